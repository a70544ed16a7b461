//! JSON shapes of keys and usage, as the contract names their fields.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::budgets::ExpirationMode;
use crate::domain::ids::KeyId;
use crate::domain::key::DailyModelUsage;
use crate::domain::key::{ApiKey, KeySnapshot, UsageTotals};
use crate::domain::key_fields::Permissions;
use crate::domain::window::remaining_secs;

pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The stored fields of a key (no live values); also the relay's `keyData`. A typed struct,
/// not a map, because the verify path serializes it on every request.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyFields<'a> {
    id: String,
    name: &'a str,
    description: &'a str,
    token_limit: u64,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    claude_account_id: Option<&'a str>,
    claude_console_account_id: Option<&'a str>,
    gemini_account_id: Option<&'a str>,
    openai_account_id: Option<&'a str>,
    bedrock_account_id: Option<&'a str>,
    azure_openai_account_id: Option<&'a str>,
    droid_account_id: Option<&'a str>,
    permissions: Permissions,
    is_active: bool,
    concurrency_limit: u64,
    rate_limit_window: u64,
    rate_limit_requests: u64,
    enable_model_restriction: bool,
    restricted_models: &'a [String],
    enable_client_restriction: bool,
    allowed_clients: &'a [String],
    daily_cost_limit: f64,
    total_cost_limit: f64,
    weekly_cost_limit: f64,
    weekly_reset_day: u8,
    weekly_reset_hour: u8,
    monthly_cost_limit: f64,
    rate_limit_cost: f64,
    allowed_ips: &'a [String],
    model_restriction_mode: &'static str,
    expiration_mode: &'static str,
    activation_days: Option<u32>,
    activation_unit: Option<&'static str>,
    is_activated: bool,
    #[schema(format = DateTime)]
    activated_at: Option<String>,
    tags: &'a [String],
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    created_by: &'a str,
    key_hint: &'a str,
    #[schema(format = DateTime)]
    deleted_at: Option<String>,
    deleted_by: Option<&'a str>,
    // The fields below change without a new revision of the record (`LiveKeyFields`); they
    // come last so that the JSON before them can be kept per revision (`KeyDataCache`).
    status: &'static str,
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
    /// Set while a regenerated key's old secret still verifies.
    #[schema(format = DateTime)]
    old_secret_valid_until: Option<String>,
}

/// The fields of [`KeyFields`] that change while the record's revision stays: the status with
/// the clock, the last use with every usage record, the old secret's grace with the clock.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LiveKeyFields {
    status: &'static str,
    last_used_at: Option<String>,
    old_secret_valid_until: Option<String>,
}

impl LiveKeyFields {
    fn of(key: &ApiKey, now: DateTime<Utc>) -> LiveKeyFields {
        LiveKeyFields {
            status: key.status(now).as_str(),
            last_used_at: key.last_used_at.map(time),
            old_secret_valid_until: key.old_secret_valid_until.filter(|t| *t > now).map(time),
        }
    }
}

/// Where the stored fields' JSON ends in a serialized [`KeyFields`]: at the first live field. A
/// string value cannot hold this text unescaped, so it is found only as the key.
const LIVE_FIELDS_START: &str = ",\"status\":";

/// The JSON of keys' stored fields (all of `keyData` before the live fields, without the
/// closing brace) per record revision: the relay's verify answers with `keyData` every time,
/// and serializing its ~40 fields was the largest single cost of a verify in keyward's process.
pub struct KeyDataCache(quick_cache::sync::Cache<(KeyId, u64), Arc<str>>);

impl KeyDataCache {
    pub fn new(entries: usize) -> KeyDataCache {
        KeyDataCache(quick_cache::sync::Cache::new(entries))
    }

    /// Appends `key`'s `keyData` (as [`key_fields`] writes it) to `out`; `revision` is the
    /// record's revision `key` was read at.
    pub fn write_key_data(
        &self,
        out: &mut Vec<u8>,
        key: &ApiKey,
        revision: u64,
        now: DateTime<Utc>,
    ) {
        let stored = match self.0.get(&(key.id, revision)) {
            Some(stored) => stored,
            None => {
                let whole = serde_json::to_string(&key_fields(key, now)).unwrap_or_default();
                let Some(end) = whole.find(LIVE_FIELDS_START) else {
                    out.extend_from_slice(whole.as_bytes());
                    return;
                };
                let stored: Arc<str> = Arc::from(&whole[..end]);
                self.0.insert((key.id, revision), stored.clone());
                stored
            }
        };
        out.extend_from_slice(stored.as_bytes());
        let live = serde_json::to_vec(&LiveKeyFields::of(key, now)).unwrap_or_default();
        // `{"status":…}` continues the stored fields: its brace becomes their comma.
        out.push(b',');
        out.extend_from_slice(live.get(1..).unwrap_or_default());
    }
}

pub fn key_fields(key: &ApiKey, now: DateTime<Utc>) -> KeyFields<'_> {
    let [claude, claude_console, gemini, openai, bedrock, azure_openai, droid] = &key.accounts;
    KeyFields {
        id: key.id.to_string(),
        name: &key.name,
        description: &key.description,
        token_limit: key.token_limit,
        expires_at: key.expires_at.map(time),
        claude_account_id: claude.as_deref(),
        claude_console_account_id: claude_console.as_deref(),
        gemini_account_id: gemini.as_deref(),
        openai_account_id: openai.as_deref(),
        bedrock_account_id: bedrock.as_deref(),
        azure_openai_account_id: azure_openai.as_deref(),
        droid_account_id: droid.as_deref(),
        permissions: key.permissions,
        is_active: key.is_active,
        status: key.status(now).as_str(),
        concurrency_limit: key.concurrency_limit,
        rate_limit_window: key.rate_limit_window_minutes,
        rate_limit_requests: key.rate_limit_requests,
        enable_model_restriction: key.enable_model_restriction,
        restricted_models: &key.restricted_models,
        enable_client_restriction: key.enable_client_restriction,
        allowed_clients: &key.allowed_clients,
        daily_cost_limit: key.daily_cost_limit.as_usd_f64(),
        total_cost_limit: key.budgets.total_cost_limit.as_usd_f64(),
        weekly_cost_limit: key.budgets.weekly_cost_limit.as_usd_f64(),
        weekly_reset_day: key.budgets.weekly_reset_day,
        weekly_reset_hour: key.budgets.weekly_reset_hour,
        monthly_cost_limit: key.budgets.monthly_cost_limit.as_usd_f64(),
        rate_limit_cost: key.budgets.window_cost_limit.as_usd_f64(),
        allowed_ips: &key.budgets.allowed_ips,
        model_restriction_mode: key.budgets.model_mode.as_str(),
        expiration_mode: key.budgets.expiration.as_str(),
        activation_days: match key.budgets.expiration {
            ExpirationMode::Activation { count, .. } => Some(count),
            ExpirationMode::Fixed => None,
        },
        activation_unit: match key.budgets.expiration {
            ExpirationMode::Activation { unit, .. } => Some(unit.as_str()),
            ExpirationMode::Fixed => None,
        },
        is_activated: key.budgets.activated_at.is_some(),
        activated_at: key.budgets.activated_at.map(time),
        tags: &key.tags,
        created_at: time(key.created_at),
        updated_at: time(key.updated_at),
        last_used_at: key.last_used_at.map(time),
        created_by: &key.created_by,
        key_hint: &key.key_hint,
        deleted_at: key.deleted_at.map(time),
        deleted_by: key.deleted_by.as_deref(),
        old_secret_valid_until: key.old_secret_valid_until.filter(|t| *t > now).map(time),
    }
}

/// One usage bucket's counters.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageJson {
    requests: u64,
    input_tokens: u64,
    output_tokens: u64,
    cache_create_tokens: u64,
    cache_create_5m_tokens: u64,
    cache_create_1h_tokens: u64,
    cache_read_tokens: u64,
    all_tokens: u64,
    cost: f64,
    cost_nano_usd: i64,
}

impl From<&UsageTotals> for UsageJson {
    fn from(totals: &UsageTotals) -> Self {
        UsageJson {
            requests: totals.requests,
            input_tokens: totals.input_tokens,
            output_tokens: totals.output_tokens,
            cache_create_tokens: totals.cache_create_tokens(),
            cache_create_5m_tokens: totals.cache_create_5m_tokens,
            cache_create_1h_tokens: totals.cache_create_1h_tokens,
            cache_read_tokens: totals.cache_read_tokens,
            all_tokens: totals.all_tokens,
            cost: totals.cost.as_usd_f64(),
            cost_nano_usd: totals.cost.nanos(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UsagePeriods {
    total: UsageJson,
    daily: UsageJson,
    monthly: UsageJson,
}

/// A key as the admin API returns it: stored fields, live limits, usage.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyJson<'a> {
    #[serde(flatten)]
    fields: KeyFields<'a>,
    current_concurrency: u64,
    current_window_requests: u64,
    current_window_tokens: u64,
    #[schema(format = DateTime)]
    window_start_time: Option<String>,
    #[schema(format = DateTime)]
    window_end_time: Option<String>,
    window_remaining_seconds: Option<u64>,
    daily_cost: f64,
    weekly_cost: f64,
    monthly_cost: f64,
    total_cost: f64,
    current_window_cost: f64,
    /// The refusal code a check-only verify would give now (request-independent checks), or null.
    limited_by: Option<&'static str>,
    usage: UsagePeriods,
}

fn time_ms(ms: i64) -> Option<String> {
    DateTime::from_timestamp_millis(ms).map(time)
}

pub fn key_json(snapshot: &KeySnapshot, now: DateTime<Utc>) -> KeyJson<'_> {
    let window = snapshot.window.as_ref();
    KeyJson {
        fields: key_fields(&snapshot.key, now),
        current_concurrency: snapshot.current_concurrency,
        current_window_requests: window.map_or(0, |w| w.requests),
        current_window_tokens: window.map_or(0, |w| w.tokens),
        window_start_time: window.and_then(|w| time_ms(w.start_ms)),
        window_end_time: window.and_then(|w| time_ms(w.end_ms)),
        window_remaining_seconds: window
            .and_then(|w| remaining_secs(w.end_ms, now.timestamp_millis())),
        daily_cost: snapshot.daily.cost.as_usd_f64(),
        weekly_cost: snapshot.weekly_cost.as_usd_f64(),
        monthly_cost: snapshot.monthly.cost.as_usd_f64(),
        total_cost: snapshot.total.cost.as_usd_f64(),
        current_window_cost: snapshot.window_cost.as_usd_f64(),
        limited_by: snapshot.limited_by(now).map(|r| r.code()),
        usage: UsagePeriods {
            total: (&snapshot.total).into(),
            daily: (&snapshot.daily).into(),
            monthly: (&snapshot.monthly).into(),
        },
    }
}

/// One day of usage per model, with the day's total.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DayUsageJson {
    date: String,
    models: BTreeMap<String, UsageJson>,
    total: UsageJson,
}

pub fn daily_usage(days: &[DailyModelUsage]) -> Vec<DayUsageJson> {
    days.iter()
        .map(|day| {
            let mut total = UsageTotals::default();
            let mut models = BTreeMap::new();
            for (model, usage) in &day.models {
                total.add(usage);
                models.insert(model.clone(), usage.into());
            }
            DayUsageJson {
                date: day.date.format("%Y-%m-%d").to_string(),
                models,
                total: (&total).into(),
            }
        })
        .collect()
}
