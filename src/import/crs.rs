//! Reads the Redis of a claude-relay-service (CRS) installation, read-only, into typed records:
//! the source side of `keyward import crs`.
//!
//! # What CRS keeps in Redis for its API keys (release 1.1.314)
//!
//! Read from its source (`src/services/apiKeyService.js`, `src/models/redis.js`,
//! `src/routes/admin/apiKeys.js`, `src/middleware/auth.js`, `src/services/costInitService.js`,
//! `src/utils/rateLimitHelper.js`, `config/config.example.js`). Every value is a Redis string.
//!
//! **Secrets.** A key is `API_KEY_PREFIX` (default `cr_`) + 64 hex characters. CRS stores only
//! `sha256_hex(secret + ENCRYPTION_KEY)` (`_hashApiKey`): the whole secret, prefix included,
//! concatenated with the 32-character `ENCRYPTION_KEY` setting. keyward hashes the same way, so a
//! hash carried over verifies when `KEYWARD_ENCRYPTION_KEY` equals `ENCRYPTION_KEY`.
//!
//! **`apikey:<id>`** (hash; `<id>` a UUID v4; CRS sets a 365-day TTL, renewed on every write,
//! which includes every usage record). Fields written by `generateApiKey`, `updateApiKey`,
//! `deleteApiKey`, `restoreApiKey`, `regenerateApiKey`, `validateApiKey` (activation):
//! - `id`, `name`, `description`; `apiKey` = the secret's hash (64 lowercase hex).
//! - limits, numbers as `String(n)` (`""` after an update to null reads as 0): `tokenLimit`
//!   (tokens per rate window, legacy), `concurrencyLimit`, `rateLimitWindow` (minutes),
//!   `rateLimitRequests`, `rateLimitCost` (USD per window), `dailyCostLimit`, `totalCostLimit`,
//!   `weeklyOpusCostLimit` (USD per week on Claude-family models through Claude accounts only)
//!   with `weeklyResetDay` (1 = Monday … 7) and `weeklyResetHour` (0–23).
//! - booleans as `"true"`/`"false"`: `isActive`, `enableModelRestriction`,
//!   `enableClientRestriction`, `isActivated`, `enableOpenAIResponsesCodexAdaptation` (default
//!   true when absent or empty), `enableOpenAIResponsesPayloadRules` (default false).
//! - JSON text: `restrictedModels`, `allowedClients`, `tags` (lists of strings), `serviceRates`
//!   (object service → multiplier), `openaiResponsesPayloadRules` (list of
//!   `{path, valueType, value}`), `permissions`: since 1.1.2xx a JSON list of `claude`, `gemini`,
//!   `openai`, `droid` (`[]` = every service); older releases stored a plain string (`all`,
//!   `claude`, …), and broken data may hold `claude,openai` (`normalizePermissions` reads all three).
//! - bindings (`""` = none): `claudeAccountId`, `claudeConsoleAccountId`, `geminiAccountId`
//!   (`api:<id>` = a Gemini-API account), `openaiAccountId` (`responses:<id>` = an
//!   OpenAI-Responses account), `azureOpenaiAccountId`, `bedrockAccountId`, `droidAccountId`;
//!   any of them may be `group:<groupId>` (an account group). `ccrAccountId` is deprecated.
//! - expiry: `expirationMode` (`fixed` | `activation`), `expiresAt` (ISO text, `""` = never;
//!   admins may send any text JavaScript's `Date` reads), `activationDays` (a count, in
//!   `activationUnit` = `days` | `hours`), `isActivated`, `activatedAt`. A `fixed` key is
//!   created activated; an `activation` key gets `activatedAt`/`expiresAt` on its first use.
//!   CRS never deletes an expired key; its cleanup job sets `isActive` to `false`.
//! - bookkeeping (ISO text): `createdAt`, `updatedAt` (absent until the first update),
//!   `lastUsedAt` (`""` until used); `createdBy` (`admin` or a user name), `userId`,
//!   `userUsername` (CRS's own user accounts), `icon` (a base64 data URI).
//! - soft delete: `isDeleted` = `"true"`, `deletedAt`, `deletedBy`, `deletedByType`
//!   (`admin` | `user` | `system`), and `isActive` = `"false"`; the hash stays (usage kept), its
//!   hash-map entry goes. A restore removes those four fields and adds `restoredAt`,
//!   `restoredBy`, `restoredByType`.
//!
//! **`apikey:hash_map`** (hash): secret hash → key id; what CRS authenticates with. Soft-deleted
//! keys are not in it. **`apikey_hash:<hash>`** (hash `id`, `name`, `isActive`): the older lookup,
//! still written by a restore and still read as a fallback.
//! Not per key, ignored here: `apikey:idx:*`, `apikey:set:*`, `apikey:tag:*`, `apikey:tags:all`,
//! `apikey:index:version`, `apikey:tmp:*` (list indexes), `cost_rank:*`.
//!
//! **Days.** Every date, month and hour in a name below is CRS's local time at a fixed offset,
//! `TIMEZONE_OFFSET` whole hours (`parseInt(process.env.TIMEZONE_OFFSET) || 8`: default +8, and
//! `0` also means +8): `getDateStringInTimezone` adds the offset to the UTC instant and takes
//! its UTC date. Months are `YYYY-MM`, hours `YYYY-MM-DD:HH`, Opus weeks `YYYY-MM-DDTHH` (the
//! start of the key's week, from `weeklyResetDay`/`weeklyResetHour`).
//!
//! **Usage counters** (hashes of integer strings, `HINCRBY`), written by `incrementTokenUsage`:
//! - `usage:<id>` (no TTL): `totalTokens` (input + output only), `totalInputTokens`,
//!   `totalOutputTokens`, `totalCacheCreateTokens`, `totalCacheReadTokens`, `totalAllTokens`
//!   (all four kinds), `totalEphemeral5mTokens`, `totalEphemeral1hTokens`, `totalRequests`, and
//!   for 1M-context requests `totalLongContextInputTokens`, `totalLongContextOutputTokens`,
//!   `totalLongContextRequests`. Old releases wrote `tokens`, `inputTokens`, `outputTokens`,
//!   `requests`, … instead; CRS reads `totalX` first and falls back to `x`.
//! - `usage:daily:<id>:<date>` (TTL 32 days), `usage:monthly:<id>:<month>` (365 days),
//!   `usage:hourly:<id>:<date>:<HH>` (7 days): `tokens` (input + output), `inputTokens`,
//!   `outputTokens`, `cacheCreateTokens`, `cacheReadTokens`, `allTokens`, `requests`,
//!   `ephemeral5mTokens`, `ephemeral1hTokens`; daily also `longContextInputTokens`,
//!   `longContextOutputTokens`, `longContextRequests`.
//! - per model (the model name normalised: Bedrock region/vendor prefix and `-vN:M` suffix cut,
//!   `:latest` cut): `usage:<id>:model:daily:<model>:<date>` (32 days),
//!   `usage:<id>:model:monthly:<model>:<month>` (365 days),
//!   `usage:<id>:model:hourly:<model>:<date>:<HH>` (7 days), `usage:<id>:model:alltime:<model>`
//!   (no TTL, no `allTokens`): `inputTokens`, `outputTokens`, `cacheCreateTokens`,
//!   `cacheReadTokens`, `allTokens`, `requests`, `ephemeral5mTokens`, `ephemeral1hTokens`,
//!   `realCostMicro` and `ratedCostMicro` (integer micro-USD, present once a cost was > 0).
//! - `usage:records:<id>` (list, newest first, at most 200, TTL 90 days): one JSON object per
//!   request (`timestamp`, `model`, `accountId`, `accountType`, token counts, `cost`,
//!   `realCost`, breakdowns, …).
//!
//! **Cost counters** (strings, `INCRBYFLOAT`, USD), written by `incrementDailyCost` only when a
//! request's cost was > 0. "Rated" cost is the real cost × the global service rate
//! (`system:service_rates`) × the key's `serviceRates` entry; CRS's limits compare rated cost.
//! - rated: `usage:cost:total:<id>` (no TTL), `usage:cost:daily:<id>:<date>` (30 days),
//!   `usage:cost:monthly:<id>:<month>` (90 days), `usage:cost:hourly:<id>:<date>:<HH>` (7 days);
//! - real: `usage:cost:real:total:<id>` (no TTL), `usage:cost:real:daily:<id>:<date>` (30 days);
//! - Opus week (Claude-family models through `claude-official`/`claude-console`/`ccr`
//!   accounts): `usage:opus:weekly:<id>:<period>` and `usage:opus:real:weekly:<id>:<period>`
//!   (14 days), `usage:opus:total:<id>`, `usage:opus:real:total:<id>` (no TTL).
//!
//! **Rate window** (strings, expiring with the window): `rate_limit:window_start:<id>` (epoch
//! ms), `rate_limit:requests:<id>`, `rate_limit:tokens:<id>`, `rate_limit:cost:<id>` (USD).
//! Concurrency leases (`concurrency:<id>`, a sorted set) are not read: they die with the relay.
//!
//! # How this reader behaves
//! It sends only `PING`, `SCAN`, `TYPE`, `HSCAN`, `HGETALL`, `HGET`, `GET` and `LINDEX` (its
//! connection type has no method for anything else). A field that cannot be read is left at its
//! default and named in [`CrsKey::field_problems`]; a field CRS 1.1.314 does not write is named
//! in [`CrsKey::unknown_fields`]: neither stops the import of the other keys.

mod fields;
pub mod names;
mod source;
mod usage;
pub mod values;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Serialize, Serializer};

use crate::domain::money::NanoUsd;

pub use fields::{parse_key, parse_permissions};
pub use names::{DateHour, YearMonth};
pub use source::{CrsError, CrsSnapshot, CrsSource, TimezoneEvidence};
pub use usage::UsageReader;

/// The services CRS 1.1.314 lets `permissions` name.
pub const CRS_SERVICES: [&str; 4] = ["claude", "gemini", "openai", "droid"];

/// One `apikey:<id>` hash, parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrsKey {
    pub id: String,
    /// `apiKey`: `sha256_hex(secret + ENCRYPTION_KEY)`; `None` when missing or malformed.
    #[serde(skip)]
    pub hashed_key: Option<String>,
    pub name: String,
    pub description: String,
    pub is_active: bool,
    pub limits: CrsLimits,
    /// Services the key may use; empty = every service (CRS's `[]` and `all`).
    pub permissions: Vec<String>,
    pub enable_model_restriction: bool,
    pub restricted_models: Vec<String>,
    pub enable_client_restriction: bool,
    pub allowed_clients: Vec<String>,
    pub bindings: CrsBindings,
    pub tags: Vec<String>,
    pub expiry: CrsExpiry,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_by: String,
    /// CRS's own user accounts (`userId`, `userUsername`), empty for admin-made keys.
    pub user_id: String,
    pub user_username: String,
    /// `isDeleted` = `"true"`.
    pub deleted: Option<CrsLifecycleEvent>,
    /// Present after a soft delete was undone.
    pub restored: Option<CrsLifecycleEvent>,
    pub relay_settings: CrsRelaySettings,
    /// Whether `apikey:hash_map` (or the older `apikey_hash:<hash>`) maps this key's hash to
    /// its id, i.e. whether CRS would accept its secret (soft-deleted keys are removed from it).
    pub in_hash_map: bool,
    /// Fields whose value could not be read, each left at its default.
    pub field_problems: Vec<FieldProblem>,
    /// Fields CRS 1.1.314 does not write (another release or a hand edit).
    pub unknown_fields: Vec<String>,
}

/// The limits of a key; money in nano-USD, 0 = no limit (as in CRS).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrsLimits {
    pub token_limit: u64,
    pub concurrency_limit: u64,
    pub rate_limit_window_minutes: u64,
    pub rate_limit_requests: u64,
    #[serde(serialize_with = "usd")]
    pub rate_limit_cost: NanoUsd,
    #[serde(serialize_with = "usd")]
    pub daily_cost_limit: NanoUsd,
    #[serde(serialize_with = "usd")]
    pub total_cost_limit: NanoUsd,
    #[serde(serialize_with = "usd")]
    pub weekly_opus_cost_limit: NanoUsd,
    /// 1 = Monday … 7 = Sunday.
    pub weekly_reset_day: u32,
    pub weekly_reset_hour: u32,
}

/// The account bindings, raw as CRS stores them (`None` for `""`). Prefixes such as
/// `group:`, `api:` and `responses:` are kept: the relay that reads them gives them meaning.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrsBindings {
    pub claude_account_id: Option<String>,
    pub claude_console_account_id: Option<String>,
    pub gemini_account_id: Option<String>,
    pub openai_account_id: Option<String>,
    pub azure_openai_account_id: Option<String>,
    pub bedrock_account_id: Option<String>,
    pub droid_account_id: Option<String>,
    /// Deprecated in CRS; no API sets it any more.
    pub ccr_account_id: Option<String>,
}

impl CrsBindings {
    /// `(CRS field name, account)` for every binding that is set.
    pub fn set(&self) -> Vec<(&'static str, &str)> {
        [
            ("claudeAccountId", &self.claude_account_id),
            ("claudeConsoleAccountId", &self.claude_console_account_id),
            ("geminiAccountId", &self.gemini_account_id),
            ("openaiAccountId", &self.openai_account_id),
            ("azureOpenaiAccountId", &self.azure_openai_account_id),
            ("bedrockAccountId", &self.bedrock_account_id),
            ("droidAccountId", &self.droid_account_id),
            ("ccrAccountId", &self.ccr_account_id),
        ]
        .into_iter()
        .filter_map(|(field, value)| value.as_deref().map(|v| (field, v)))
        .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpirationMode {
    Fixed,
    Activation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivationUnit {
    Days,
    Hours,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrsExpiry {
    pub mode: ExpirationMode,
    pub expires_at: Option<DateTime<Utc>>,
    /// A count of `activation_unit`s (CRS names it `activationDays` whatever the unit).
    pub activation_days: u64,
    pub activation_unit: ActivationUnit,
    pub is_activated: bool,
    pub activated_at: Option<DateTime<Utc>>,
}

/// A soft delete or a restore: when, by whom, and CRS's kind of actor (`admin`, `user`, `system`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrsLifecycleEvent {
    pub at: Option<DateTime<Utc>>,
    pub by: String,
    pub by_type: String,
}

/// Settings that shape what CRS's relay does with a request, not whether a key may make it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrsRelaySettings {
    /// A base64 data URI shown in CRS's dashboard.
    #[serde(skip)]
    pub icon: String,
    pub has_icon: bool,
    /// Per-key cost multipliers by service (`claude`, `codex`, `gemini`, …).
    pub service_rates: BTreeMap<String, serde_json::Number>,
    pub enable_openai_responses_codex_adaptation: bool,
    pub enable_openai_responses_payload_rules: bool,
    pub openai_responses_payload_rules: Vec<serde_json::Value>,
}

/// A field that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    /// The CRS field name (for usage: the Redis key, then `.field` for a hash field).
    pub field: String,
    pub message: String,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldProblem {
        FieldProblem {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Where a key stands, in the order that decides: deleted, then disabled, then expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrsKeyStatus {
    Active,
    /// An activation-mode key never used yet (CRS accepts it and starts its clock).
    AwaitingActivation,
    Disabled,
    Expired,
    Deleted,
}

impl CrsKeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CrsKeyStatus::Active => "active",
            CrsKeyStatus::AwaitingActivation => "awaiting activation",
            CrsKeyStatus::Disabled => "disabled",
            CrsKeyStatus::Expired => "expired",
            CrsKeyStatus::Deleted => "deleted",
        }
    }
}

impl CrsKey {
    /// As CRS's `validateApiKey` would see the key at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> CrsKeyStatus {
        if self.deleted.is_some() {
            CrsKeyStatus::Deleted
        } else if !self.is_active {
            CrsKeyStatus::Disabled
        } else if self.expiry.expires_at.is_some_and(|at| at < now) {
            CrsKeyStatus::Expired
        } else if self.expiry.mode == ExpirationMode::Activation && !self.expiry.is_activated {
            CrsKeyStatus::AwaitingActivation
        } else {
            CrsKeyStatus::Active
        }
    }
}

/// Token and request counters of one period (one CRS usage hash).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageCounts {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_create_tokens: u64,
    pub cache_read_tokens: u64,
    /// All four kinds; CRS's `allTokens` (absent in the per-model all-time hashes, where it is
    /// the sum of the four).
    pub all_tokens: u64,
    /// CRS's `tokens`: input + output (before cache tokens were counted: every token).
    pub core_tokens: u64,
    pub ephemeral_5m_tokens: u64,
    pub ephemeral_1h_tokens: u64,
    pub long_context_input_tokens: u64,
    pub long_context_output_tokens: u64,
    pub long_context_requests: u64,
}

/// Counters of one model in one period, with the costs CRS kept for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsage {
    #[serde(flatten)]
    pub counts: UsageCounts,
    #[serde(serialize_with = "usd")]
    pub real_cost: NanoUsd,
    #[serde(serialize_with = "usd")]
    pub rated_cost: NanoUsd,
}

/// Cost counters (rated unless named real), nano-USD.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrsCosts {
    #[serde(serialize_with = "usd")]
    pub total: NanoUsd,
    #[serde(serialize_with = "usd")]
    pub real_total: NanoUsd,
    #[serde(serialize_with = "usd_map")]
    pub daily: BTreeMap<NaiveDate, NanoUsd>,
    #[serde(serialize_with = "usd_map")]
    pub real_daily: BTreeMap<NaiveDate, NanoUsd>,
    #[serde(serialize_with = "usd_map")]
    pub monthly: BTreeMap<YearMonth, NanoUsd>,
    #[serde(serialize_with = "usd_map")]
    pub hourly: BTreeMap<DateHour, NanoUsd>,
    #[serde(serialize_with = "usd")]
    pub opus_total: NanoUsd,
    #[serde(serialize_with = "usd")]
    pub opus_real_total: NanoUsd,
    /// By the start of the Opus week (`YYYY-MM-DDTHH`).
    #[serde(serialize_with = "usd_map")]
    pub opus_weekly: BTreeMap<String, NanoUsd>,
    #[serde(serialize_with = "usd_map")]
    pub opus_real_weekly: BTreeMap<String, NanoUsd>,
}

/// A running rate window (its counters expire with it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrsWindow {
    pub started_at: Option<DateTime<Utc>>,
    pub requests: u64,
    pub tokens: u64,
    #[serde(serialize_with = "usd")]
    pub cost: NanoUsd,
}

/// Everything CRS counted for one key.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrsUsage {
    pub total: UsageCounts,
    pub daily: BTreeMap<NaiveDate, UsageCounts>,
    pub monthly: BTreeMap<YearMonth, UsageCounts>,
    pub hourly: BTreeMap<DateHour, UsageCounts>,
    pub model_daily: BTreeMap<NaiveDate, BTreeMap<String, ModelUsage>>,
    pub model_monthly: BTreeMap<YearMonth, BTreeMap<String, ModelUsage>>,
    pub model_hourly: BTreeMap<DateHour, BTreeMap<String, ModelUsage>>,
    pub model_alltime: BTreeMap<String, ModelUsage>,
    pub costs: CrsCosts,
    pub window: Option<CrsWindow>,
    /// The `timestamp` of the newest entry of `usage:records:<id>`.
    pub last_record_at: Option<DateTime<Utc>>,
    /// Counters that could not be read (named `<redis key>` or `<redis key>.<field>`).
    pub problems: Vec<FieldProblem>,
}

fn usd<S: Serializer>(amount: &NanoUsd, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(amount)
}

fn usd_map<K: Serialize, S: Serializer>(
    amounts: &BTreeMap<K, NanoUsd>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(amounts.len()))?;
    for (period, amount) in amounts {
        map.serialize_entry(period, &amount.to_string())?;
    }
    map.end()
}
