//! What the key pages show of a key: its fields and live values, formatted.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::Serialize;

use super::format::{
    count, countdown, expiry, minutes, optional_relative, optional_time, percent, time, tokens, usd,
};
use crate::domain::ids::KeyId;
use crate::domain::key::KeySnapshot;
use crate::domain::money::NanoUsd;
use crate::domain::timezone::Zone;
use crate::domain::window::remaining_secs;
use crate::web::error::{PageError, PageResult};
use crate::web::extract::QueryPairs;
use crate::web::AppState;

pub const ACCOUNT_LABELS: [&str; 7] = [
    "Claude",
    "Claude Console",
    "Gemini",
    "OpenAI",
    "Bedrock",
    "Azure OpenAI",
    "Droid",
];

/// One key as the list and detail pages show it, formatted.
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub status: &'static str,
    pub is_active: bool,
    pub permissions: String,
    pub accounts: Vec<(&'static str, String)>,
    pub concurrency: u64,
    pub concurrency_limit: String,
    pub window_length: String,
    pub window_requests: String,
    pub window_request_limit: String,
    pub window_tokens: String,
    pub window_token_limit: String,
    pub window_seconds: String,
    pub window_text: String,
    pub daily_cost: String,
    pub daily_limit: Option<String>,
    pub daily_ratio: f64,
    pub daily_percent: String,
    pub total_requests: String,
    pub total_tokens: String,
    pub total_cost: String,
    pub monthly_cost: String,
    pub last_used: String,
    /// `3 min ago`, empty when never used.
    pub last_used_ago: String,
    pub expires: String,
    /// `in 12 days`, empty without an expiry.
    pub expires_in: String,
    pub created: String,
    pub created_by: String,
    pub restricted_models: Vec<String>,
    pub allowed_clients: Vec<String>,
    pub enable_model_restriction: bool,
    pub enable_client_restriction: bool,
    /// `limited: daily cost` while a limit blocks the key now; empty otherwise.
    pub limited_by: String,
    /// A bar per configured budget beyond the daily one.
    pub budgets: Vec<BudgetBar>,
    /// `cr_1a2b…9f0e`, empty for keys made before hints were stored.
    pub key_hint: String,
    pub deleted: bool,
    /// When and by whom it was deleted, empty unless deleted.
    pub deleted_at: String,
    pub deleted_by: String,
    /// When a regenerated key's old secret stops verifying, empty when it does not (any more).
    pub old_secret_until: String,
}

/// One budget's use: a bar with its text, amber past 80 %, red at the limit (the text says so
/// too, so colour is never the only signal).
#[derive(Serialize)]
pub struct BudgetBar {
    pub label: &'static str,
    pub spent: String,
    pub limit: String,
    pub ratio: f64,
    /// `ok`, `warn` (past 80 %) or `full` (at or over the limit).
    pub level: &'static str,
    /// The share with the amber/red word, as the bar's text reads (the live refresh sends it).
    pub text: String,
}

impl BudgetBar {
    fn new(label: &'static str, spent: NanoUsd, limit: NanoUsd) -> BudgetBar {
        let share = spent.nanos() as f64 / limit.nanos().max(1) as f64;
        let level = budget_level(share);
        BudgetBar {
            label,
            spent: usd(spent),
            limit: usd(limit),
            ratio: share.clamp(0.0, 1.0),
            level,
            text: format!("{}{}", percent(share), level_text(level)),
        }
    }
}

fn budget_level(share: f64) -> &'static str {
    if share >= 1.0 {
        "full"
    } else if share > 0.8 {
        "warn"
    } else {
        "ok"
    }
}

/// The budget bars a key has (weekly, monthly, total, per window), in that order.
/// What a bar's text adds to the share: a word for the amber and red states.
fn level_text(level: &str) -> &'static str {
    match level {
        "full" => " · limit reached",
        "warn" => " · near the limit",
        _ => "",
    }
}

fn budget_bars(snapshot: &KeySnapshot) -> Vec<BudgetBar> {
    let budgets = &snapshot.key.budgets;
    [
        ("This week", snapshot.weekly_cost, budgets.weekly_cost_limit),
        (
            "This month",
            snapshot.monthly.cost,
            budgets.monthly_cost_limit,
        ),
        ("All time", snapshot.total.cost, budgets.total_cost_limit),
        (
            "This window",
            snapshot.window_cost,
            budgets.window_cost_limit,
        ),
    ]
    .into_iter()
    .filter(|(_, _, limit)| *limit > NanoUsd::ZERO)
    .map(|(label, spent, limit)| BudgetBar::new(label, spent, limit))
    .collect()
}

/// `limited: daily cost` for the refusal that blocks the key now, or empty.
pub fn limited_text(snapshot: &KeySnapshot) -> String {
    snapshot
        .limited_by(Utc::now())
        .map(|refusal| {
            let code = refusal.code();
            let what = code
                .strip_suffix("_limit")
                .unwrap_or(code)
                .replace('_', " ");
            format!("limited: {what}")
        })
        .unwrap_or_default()
}

fn limit_text(limit: u64, format: fn(u64) -> String) -> String {
    if limit == 0 {
        "∞".into()
    } else {
        format(limit)
    }
}

impl KeyView {
    pub fn new(snapshot: &KeySnapshot, zone: Zone) -> KeyView {
        let now = Utc::now();
        let key = &snapshot.key;
        let seconds = snapshot
            .window
            .and_then(|w| remaining_secs(w.end_ms, now.timestamp_millis()));
        let limit = key.daily_cost_limit;
        KeyView {
            id: key.id.to_string(),
            name: key.name.clone(),
            description: key.description.clone(),
            tags: key.tags.clone(),
            status: key.status(now).as_str(),
            is_active: key.is_active,
            permissions: key.permissions.as_text(),
            accounts: ACCOUNT_LABELS
                .iter()
                .zip(&key.accounts)
                .filter_map(|(label, id)| id.clone().map(|id| (*label, id)))
                .collect(),
            concurrency: snapshot.current_concurrency,
            concurrency_limit: limit_text(key.concurrency_limit, count),
            window_length: minutes(key.rate_limit_window_minutes),
            window_requests: count(snapshot.window.map_or(0, |w| w.requests)),
            window_request_limit: limit_text(key.rate_limit_requests, count),
            window_tokens: tokens(snapshot.window.map_or(0, |w| w.tokens)),
            window_token_limit: limit_text(key.token_limit, tokens),
            window_seconds: seconds.map(|s| s.to_string()).unwrap_or_default(),
            window_text: countdown(seconds),
            daily_cost: usd(snapshot.daily.cost),
            daily_limit: (limit.nanos() > 0).then(|| usd(limit)),
            daily_ratio: cost_ratio(snapshot),
            daily_percent: percent(cost_share(snapshot)),
            total_requests: count(snapshot.total.requests),
            total_tokens: tokens(snapshot.total.all_tokens),
            total_cost: usd(snapshot.total.cost),
            monthly_cost: usd(snapshot.monthly.cost),
            last_used: optional_time(key.last_used_at, zone, "never"),
            last_used_ago: optional_relative(key.last_used_at, now),
            expires: expiry(key.expires_at, zone),
            expires_in: optional_relative(key.expires_at, now),
            created: time(key.created_at, zone),
            created_by: key.created_by.clone(),
            restricted_models: key.restricted_models.clone(),
            allowed_clients: key.allowed_clients.clone(),
            enable_model_restriction: key.enable_model_restriction,
            enable_client_restriction: key.enable_client_restriction,
            limited_by: limited_text(snapshot),
            budgets: budget_bars(snapshot),
            key_hint: key.key_hint.clone(),
            deleted: key.deleted_at.is_some(),
            deleted_at: optional_time(key.deleted_at, zone, ""),
            deleted_by: key.deleted_by.clone().unwrap_or_default(),
            old_secret_until: optional_time(
                key.old_secret_valid_until.filter(|t| *t > now),
                zone,
                "",
            ),
        }
    }

    pub fn has_window(&self) -> bool {
        self.window_length != "—"
    }
}

/// Today's cost as a share of the daily limit, for the bar (full at the limit).
fn cost_ratio(snapshot: &KeySnapshot) -> f64 {
    cost_share(snapshot).clamp(0.0, 1.0)
}

/// Today's cost as a share of the daily limit, past 1 when over it (0 without a limit).
fn cost_share(snapshot: &KeySnapshot) -> f64 {
    let limit = snapshot.key.daily_cost_limit.nanos();
    if limit <= 0 {
        return 0.0;
    }
    snapshot.daily.cost.nanos() as f64 / limit as f64
}

/// The live cells of one row, as the list page's script refreshes them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveKey {
    current_concurrency: u64,
    current_window_requests: String,
    current_window_tokens: String,
    window_remaining_seconds: Option<u64>,
    daily_cost: String,
    daily_cost_ratio: f64,
    daily_cost_percent: String,
    /// Refreshed with today's cost, so the two never disagree on one row.
    total_cost: String,
    monthly_cost: String,
    limited_by: String,
    /// One per configured budget beyond the daily one, by label (the bars' `data-budget`).
    budgets: Vec<BudgetBar>,
}

impl LiveKey {
    pub fn new(snapshot: &KeySnapshot) -> LiveKey {
        let now_ms = Utc::now().timestamp_millis();
        let window = snapshot.window.as_ref();
        LiveKey {
            current_concurrency: snapshot.current_concurrency,
            current_window_requests: count(window.map_or(0, |w| w.requests)),
            current_window_tokens: tokens(window.map_or(0, |w| w.tokens)),
            window_remaining_seconds: window.and_then(|w| remaining_secs(w.end_ms, now_ms)),
            daily_cost: usd(snapshot.daily.cost),
            daily_cost_ratio: cost_ratio(snapshot),
            daily_cost_percent: percent(cost_share(snapshot)),
            total_cost: usd(snapshot.total.cost),
            monthly_cost: usd(snapshot.monthly.cost),
            limited_by: limited_text(snapshot),
            budgets: budget_bars(snapshot),
        }
    }
}

/// `{"keys": {id: live cells}}`.
#[derive(Serialize)]
pub struct LiveKeys {
    pub keys: BTreeMap<String, LiveKey>,
}

/// A link target in the list that keeps the current filters.
pub struct PageLink {
    pub label: String,
    pub href: String,
    pub current: bool,
}

impl PageLink {
    /// First, previous, a few around the current page, next, last; all keeping the filters.
    pub fn around(query: &QueryPairs, page: u64, last: u64) -> Vec<PageLink> {
        let href = |p: u64| {
            let mut pairs: Vec<(String, String)> =
                query.iter().filter(|(k, _)| k != "page").cloned().collect();
            pairs.push(("page".into(), p.to_string()));
            format!(
                "/keys?{}",
                serde_urlencoded::to_string(&pairs).unwrap_or_default()
            )
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(PageLink {
                label: "‹ Previous".into(),
                href: href(page - 1),
                current: false,
            });
        }
        let first = page.saturating_sub(2).max(1);
        let end = (page + 2).min(last);
        for p in first..=end {
            links.push(PageLink {
                label: p.to_string(),
                href: href(p),
                current: p == page,
            });
        }
        if page < last {
            links.push(PageLink {
                label: "Next ›".into(),
                href: href(page + 1),
                current: false,
            });
        }
        links
    }
}

/// The key a page's path names, with its live values; a malformed or unknown id is not found.
pub async fn load_key(state: &AppState, id: &str) -> PageResult<KeySnapshot> {
    let id = KeyId::parse(id).ok_or(PageError::NotFound)?;
    state.keys.get(id).await?.ok_or(PageError::NotFound)
}
