//! An API key as stored and shown, with its live limits and usage counters.

use chrono::{DateTime, NaiveDate, Utc};

use super::budgets::KeyBudgets;
use super::ids::KeyId;
use super::key_fields::Permissions;
use super::money::NanoUsd;
use super::refusal::Refusal;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: KeyId,
    pub name: String,
    pub description: String,
    pub token_limit: u64,
    pub expires_at: Option<DateTime<Utc>>,
    /// In the order of [`super::key_fields::ACCOUNT_FIELDS`].
    pub accounts: [Option<String>; super::key_fields::ACCOUNT_COUNT],
    pub permissions: Permissions,
    pub is_active: bool,
    pub concurrency_limit: u64,
    pub rate_limit_window_minutes: u64,
    pub rate_limit_requests: u64,
    pub enable_model_restriction: bool,
    pub restricted_models: Vec<String>,
    pub enable_client_restriction: bool,
    pub allowed_clients: Vec<String>,
    pub daily_cost_limit: NanoUsd,
    /// Total, weekly, monthly and per-window cost budgets and the address allow-list.
    pub budgets: KeyBudgets,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_by: String,
    /// `cr_` + the first 4 and last 4 characters of the secret; empty for keys made before
    /// hints were stored.
    pub key_hint: String,
    /// Set while the key is soft-deleted (it does not verify, and is listed only as deleted).
    pub deleted_at: Option<DateTime<Utc>>,
    pub deleted_by: Option<String>,
    /// When a regenerated key's old secret stops verifying (may be in the past).
    pub old_secret_valid_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Disabled,
    Expired,
    Deleted,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Disabled => "disabled",
            KeyStatus::Expired => "expired",
            KeyStatus::Deleted => "deleted",
        }
    }

    pub fn parse(value: &str) -> Option<KeyStatus> {
        [Self::Active, Self::Disabled, Self::Expired, Self::Deleted]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

impl ApiKey {
    /// Deleted wins over everything; disabled wins over expired: an admin who switched a key
    /// off sees it as off.
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        if self.deleted_at.is_some() {
            KeyStatus::Deleted
        } else if !self.is_active {
            KeyStatus::Disabled
        } else if self.expires_at.is_some_and(|t| t <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// The upstream accounts this key is bound to, without empty slots.
    pub fn bound_accounts(&self) -> impl Iterator<Item = &str> {
        self.accounts.iter().filter_map(|a| a.as_deref())
    }
}

/// A running rate window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    pub start_ms: i64,
    pub end_ms: i64,
    pub requests: u64,
    pub tokens: u64,
}

/// Counters of one usage bucket (total, a day, a month, or a model within a day).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_create_5m_tokens: u64,
    pub cache_create_1h_tokens: u64,
    pub cache_read_tokens: u64,
    pub all_tokens: u64,
    pub cost: NanoUsd,
}

impl UsageTotals {
    pub fn cache_create_tokens(&self) -> u64 {
        self.cache_create_5m_tokens + self.cache_create_1h_tokens
    }

    pub fn add(&mut self, other: &UsageTotals) {
        self.requests += other.requests;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_create_5m_tokens += other.cache_create_5m_tokens;
        self.cache_create_1h_tokens += other.cache_create_1h_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.all_tokens += other.all_tokens;
        self.cost = NanoUsd::from_nanos(self.cost.nanos() + other.cost.nanos());
    }
}

/// One day of usage, per model (of a key or of an upstream account).
#[derive(Debug, Clone)]
pub struct DailyModelUsage {
    pub date: NaiveDate,
    pub models: Vec<(String, UsageTotals)>,
}

/// A key with everything the list and detail views show.
#[derive(Debug, Clone)]
pub struct KeySnapshot {
    pub key: ApiKey,
    pub current_concurrency: u64,
    pub window: Option<RateWindow>,
    pub total: UsageTotals,
    pub daily: UsageTotals,
    pub monthly: UsageTotals,
    /// Cost of the current week (from the key's weekly reset) and of the running rate window.
    pub weekly_cost: NanoUsd,
    pub window_cost: NanoUsd,
}

impl KeySnapshot {
    /// A key nothing has used yet (just created): no leases, window or usage.
    pub fn unused(key: ApiKey) -> KeySnapshot {
        KeySnapshot {
            key,
            current_concurrency: 0,
            window: None,
            total: UsageTotals::default(),
            daily: UsageTotals::default(),
            monthly: UsageTotals::default(),
            weekly_cost: NanoUsd::ZERO,
            window_cost: NanoUsd::ZERO,
        }
    }
}

impl KeySnapshot {
    /// The refusal a check-only verify would give now, by the key's own state alone: the
    /// checks that depend on the request (service, model, client, address) are left out, as
    /// no request is at hand. In the verify script's order.
    pub fn limited_by(&self, now: DateTime<Utc>) -> Option<Refusal> {
        let key = &self.key;
        let budgets = &key.budgets;
        match key.status(now) {
            KeyStatus::Disabled => return Some(Refusal::Disabled),
            KeyStatus::Expired => return Some(Refusal::Expired),
            // Its status says it all (verify answers not_found); no limit is what blocks it.
            KeyStatus::Deleted => return None,
            KeyStatus::Active => {}
        }
        let reached = |limit: NanoUsd, spent: NanoUsd| limit > NanoUsd::ZERO && spent >= limit;
        let cost_checks = [
            (
                key.daily_cost_limit,
                self.daily.cost,
                Refusal::DailyCostLimit,
            ),
            (
                budgets.weekly_cost_limit,
                self.weekly_cost,
                Refusal::WeeklyCostLimit,
            ),
            (
                budgets.monthly_cost_limit,
                self.monthly.cost,
                Refusal::MonthlyCostLimit,
            ),
            (
                budgets.total_cost_limit,
                self.total.cost,
                Refusal::TotalCostLimit,
            ),
        ];
        if let Some((_, _, refusal)) = cost_checks
            .into_iter()
            .find(|(limit, spent, _)| reached(*limit, *spent))
        {
            return Some(refusal);
        }
        if key.rate_limit_window_minutes > 0 {
            if let Some(window) = &self.window {
                if key.rate_limit_requests > 0 && window.requests >= key.rate_limit_requests {
                    return Some(Refusal::RateLimit);
                }
                if key.token_limit > 0 && window.tokens >= key.token_limit {
                    return Some(Refusal::TokenLimit);
                }
                if reached(budgets.window_cost_limit, self.window_cost) {
                    return Some(Refusal::WindowCostLimit);
                }
            }
        }
        if key.concurrency_limit > 0 && self.current_concurrency >= key.concurrency_limit {
            return Some(Refusal::ConcurrencyLimit);
        }
        None
    }
}
