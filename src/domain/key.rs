//! An API key as stored and shown, with its live limits and usage counters.

use chrono::{DateTime, NaiveDate, Utc};

use super::ids::KeyId;
use super::key_fields::Permissions;
use super::money::NanoUsd;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: KeyId,
    pub name: String,
    pub description: String,
    pub token_limit: u64,
    pub expires_at: Option<DateTime<Utc>>,
    /// In the order of [`super::key_fields::ACCOUNT_FIELDS`].
    pub accounts: [Option<String>; 5],
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
}
