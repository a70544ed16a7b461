//! A key brought over from another key service, whole: what an import writes in one step.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::ids::KeyId;
use super::key::UsageTotals;
use super::key_fields::KeyChanges;

/// Everything an import writes for one key: its settings (validated as keyward's own key
/// writes are), the facts of its past (when made, used, activated, deleted) and its usage.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedKey {
    pub id: KeyId,
    /// `sha256_hex(secret + encryption key)`, carried over unchanged.
    pub secret_hash: String,
    pub key_hint: String,
    /// Every settable field set.
    pub changes: KeyChanges,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub activated_at: Option<DateTime<Utc>>,
    /// Soft-deleted in the source: when, and by whom.
    pub deleted: Option<(DateTime<Utc>, String)>,
    pub usage: ImportedUsage,
}

/// Usage counters by period; days and months are keyward's (its configured time zone).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportedUsage {
    pub total: UsageTotals,
    pub daily: BTreeMap<NaiveDate, UsageTotals>,
    /// By the first day of the month.
    pub monthly: BTreeMap<NaiveDate, UsageTotals>,
    pub daily_by_model: BTreeMap<NaiveDate, BTreeMap<String, UsageTotals>>,
}

/// What became of one imported key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Written now.
    Imported,
    /// Imported before from the same source data; nothing written. `changed_here` names the
    /// fields keyward changed since (kept).
    Unchanged { changed_here: Vec<String> },
    /// A key with this id exists and differs from the source: not overwritten. `fields` names
    /// what differs (`usage` for the counters).
    Differs { fields: Vec<String> },
    /// Another keyward key already verifies with this secret hash: not written.
    SecretTaken { by: KeyId },
}
