//! What an import of a claude-relay-service Redis would do: per key, its state and the fields
//! keyward cannot carry over; in total, counts and usage. Printed by `--dry-run`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Offset, Utc};
use serde::Serialize;

use super::crs::{CrsKey, CrsKeyStatus, CrsSnapshot, CrsUsage, TimezoneEvidence};
use crate::domain::ids::{is_account_id, KeyId};
use crate::domain::money::NanoUsd;
use crate::domain::timezone::Zone;

/// A field of a CRS key that an import leaves behind, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotCarried {
    pub field: String,
    pub reason: String,
}

impl NotCarried {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> NotCarried {
        NotCarried {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Why a key cannot be imported at all (`None`: it can).
pub fn skip_reason(key: &CrsKey) -> Option<String> {
    if KeyId::parse(&key.id).is_none() {
        return Some("its id is not a UUID, and keyward keeps the ids".into());
    }
    if key.hashed_key.is_none() {
        return Some("its `apiKey` hash is missing or malformed, so no secret could verify".into());
    }
    None
}

/// The fields of `key` that keyward has no place for, or that could not be read.
/// `client_ids`: the client ids keyward is configured with.
pub fn not_carried_over(key: &CrsKey, client_ids: &[&str]) -> Vec<NotCarried> {
    let mut left = Vec::new();
    for problem in &key.field_problems {
        left.push(NotCarried::new(
            &problem.field,
            format!("cannot be read: {}", problem.message),
        ));
    }
    for field in &key.unknown_fields {
        left.push(NotCarried::new(
            field,
            "not a field claude-relay-service 1.1.314 writes",
        ));
    }
    if key.limits.weekly_opus_cost_limit != NanoUsd::ZERO {
        left.push(NotCarried::new(
            "weeklyOpusCostLimit",
            format!(
                "${} a week on Claude models through Claude accounts only: keyward's weekly \
                 budget counts every model",
                key.limits.weekly_opus_cost_limit
            ),
        ));
    }
    let rates = &key.relay_settings.service_rates;
    if rates.values().any(|rate| rate.as_f64() != Some(1.0)) {
        let shown: Vec<String> = rates.iter().map(|(s, r)| format!("{s} ×{r}")).collect();
        left.push(NotCarried::new(
            "serviceRates",
            format!(
                "keyward counts costs at list price; these multipliers ({}) are not applied \
                 to new usage (the imported totals keep them)",
                shown.join(", ")
            ),
        ));
    }
    if key.relay_settings.has_icon {
        left.push(NotCarried::new("icon", "keyward keys have no icon"));
    }
    if !key.user_id.is_empty() || !key.user_username.is_empty() {
        left.push(NotCarried::new(
            "userId",
            format!(
                "keyward has no user accounts (owner `{}`; createdBy is kept)",
                key.user_username
            ),
        ));
    }
    let relay = &key.relay_settings;
    if !relay.enable_openai_responses_codex_adaptation {
        left.push(NotCarried::new(
            "enableOpenAIResponsesCodexAdaptation",
            "a request rewriting setting of claude-relay-service's relay, not of the key check",
        ));
    }
    if relay.enable_openai_responses_payload_rules
        || !relay.openai_responses_payload_rules.is_empty()
    {
        left.push(NotCarried::new(
            "openaiResponsesPayloadRules",
            "a request rewriting setting of claude-relay-service's relay, not of the key check",
        ));
    }
    if key.bindings.ccr_account_id.is_some() {
        left.push(NotCarried::new(
            "ccrAccountId",
            "deprecated in claude-relay-service; keyward has no such binding",
        ));
    }
    for (field, account) in key.bindings.set() {
        if field != "ccrAccountId" && !is_account_id(account) {
            left.push(NotCarried::new(
                field,
                "not an account id keyward accepts (1–128 characters, no spaces)",
            ));
        }
    }
    for client in &key.allowed_clients {
        if !client_ids.contains(&client.as_str()) {
            left.push(NotCarried::new(
                "allowedClients",
                format!("`{client}` is not a client id in keyward's client list"),
            ));
        }
    }
    if key.deleted.as_ref().is_some_and(|d| !d.by_type.is_empty()) {
        left.push(NotCarried::new(
            "deletedByType",
            "keyward records who deleted a key, not the kind of actor",
        ));
    }
    if key.restored.is_some() {
        left.push(NotCarried::new(
            "restoredAt",
            "keyward keeps no restore history (restoredAt, restoredBy, restoredByType)",
        ));
    }
    left
}

/// One key in the report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyReport<'a> {
    #[serde(flatten)]
    pub key: &'a CrsKey,
    pub status: CrsKeyStatus,
    pub skip_reason: Option<String>,
    pub not_carried_over: Vec<NotCarried>,
    pub usage: &'a CrsUsage,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunReport<'a> {
    pub source: &'a str,
    pub keys_found: usize,
    pub by_status: BTreeMap<CrsKeyStatus, usize>,
    pub would_import: usize,
    pub would_skip: usize,
    pub hash_map_entries: usize,
    pub legacy_hash_entries: usize,
    pub dangling_lookups: usize,
    pub orphan_usage_ids: &'a [String],
    pub not_hashes: &'a [String],
    pub timezone: &'a TimezoneEvidence,
    /// The source's day offset, when the evidence names one, as `+HH:00`.
    pub source_offset: Option<String>,
    pub keyward_timezone: String,
    pub timezone_matches: Option<bool>,
    pub total_requests: u64,
    pub total_tokens: u64,
    #[serde(serialize_with = "usd")]
    pub total_cost: NanoUsd,
    #[serde(serialize_with = "usd")]
    pub total_real_cost: NanoUsd,
    pub keys: Vec<KeyReport<'a>>,
}

fn usd<S: serde::Serializer>(amount: &NanoUsd, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(amount)
}

/// Seconds east of UTC of `zone` at `at`.
fn zone_offset_seconds(zone: &Zone, at: DateTime<Utc>) -> i32 {
    match zone {
        Zone::Named(tz) => at.with_timezone(tz).offset().fix().local_minus_utc(),
        Zone::Fixed(offset) => offset.local_minus_utc(),
    }
}

fn offset_text(hours: i32) -> String {
    let sign = if hours < 0 { '-' } else { '+' };
    format!("{sign}{:02}:00", hours.abs())
}

impl<'a> DryRunReport<'a> {
    pub fn new(
        snapshot: &'a CrsSnapshot,
        client_ids: &[&str],
        keyward_zone: &Zone,
        now: DateTime<Utc>,
    ) -> DryRunReport<'a> {
        let mut by_status = BTreeMap::new();
        let mut keys = Vec::with_capacity(snapshot.keys.len());
        let (mut total_requests, mut total_tokens) = (0_u64, 0_u64);
        let (mut total_cost, mut total_real_cost) = (NanoUsd::ZERO, NanoUsd::ZERO);
        for (key, usage) in &snapshot.keys {
            let status = key.status(now);
            *by_status.entry(status).or_insert(0) += 1;
            total_requests = total_requests.saturating_add(usage.total.requests);
            total_tokens = total_tokens.saturating_add(usage.total.all_tokens);
            total_cost = total_cost
                .checked_add(usage.costs.total)
                .unwrap_or(total_cost);
            total_real_cost = total_real_cost
                .checked_add(usage.costs.real_total)
                .unwrap_or(total_real_cost);
            keys.push(KeyReport {
                key,
                status,
                skip_reason: skip_reason(key),
                not_carried_over: not_carried_over(key, client_ids),
                usage,
            });
        }
        let would_skip = keys.iter().filter(|k| k.skip_reason.is_some()).count();
        let source_offset_hours = match snapshot.timezone.consistent_offsets_hours.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        DryRunReport {
            source: &snapshot.source,
            keys_found: keys.len(),
            by_status,
            would_import: keys.len() - would_skip,
            would_skip,
            hash_map_entries: snapshot.hash_map_entries,
            legacy_hash_entries: snapshot.legacy_hash_entries,
            dangling_lookups: snapshot.dangling_lookups,
            orphan_usage_ids: &snapshot.orphan_usage_ids,
            not_hashes: &snapshot.not_hashes,
            timezone: &snapshot.timezone,
            source_offset: source_offset_hours.map(offset_text),
            keyward_timezone: keyward_zone.to_string(),
            timezone_matches: source_offset_hours
                .map(|hours| zone_offset_seconds(keyward_zone, now) == hours * 3600),
            total_requests,
            total_tokens,
            total_cost,
            total_real_cost,
            keys,
        }
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "claude-relay-service Redis at {}: {} keys ({} entries in apikey:hash_map, {} older \
             apikey_hash lookups)",
            self.source, self.keys_found, self.hash_map_entries, self.legacy_hash_entries
        );
        let statuses: Vec<String> = [
            CrsKeyStatus::Active,
            CrsKeyStatus::AwaitingActivation,
            CrsKeyStatus::Disabled,
            CrsKeyStatus::Expired,
            CrsKeyStatus::Deleted,
        ]
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s.as_str(),
                self.by_status.get(s).copied().unwrap_or(0)
            )
        })
        .collect();
        let _ = writeln!(out, "Keys by state: {}", statuses.join(", "));
        let _ = writeln!(
            out,
            "Would import {} keys, skip {}.",
            self.would_import, self.would_skip
        );
        let _ = writeln!(
            out,
            "Usage: {} requests, {} tokens, cost ${} (real ${}).",
            self.total_requests, self.total_tokens, self.total_cost, self.total_real_cost
        );
        match (&self.source_offset, self.timezone_matches) {
            (Some(offset), Some(true)) => {
                let _ = writeln!(
                    out,
                    "Days: claude-relay-service counted them at UTC{offset} (TIMEZONE_OFFSET), \
                     as KEYWARD_TIMEZONE ({}) does now.",
                    self.keyward_timezone
                );
            }
            (Some(offset), _) => {
                let _ = writeln!(
                    out,
                    "Days: claude-relay-service counted them at UTC{offset} (TIMEZONE_OFFSET), \
                     but KEYWARD_TIMEZONE is {}: set KEYWARD_TIMEZONE={offset} before importing, \
                     or daily usage and daily limits land on other days.",
                    self.keyward_timezone
                );
            }
            (None, _) if self.timezone.records_checked == 0 => {
                let _ = writeln!(
                    out,
                    "Days: no usage in the last 7 days to tell claude-relay-service's \
                     TIMEZONE_OFFSET from (its default is +8); set KEYWARD_TIMEZONE to it."
                );
            }
            (None, _) => {
                let shown: Vec<String> = self
                    .timezone
                    .consistent_offsets_hours
                    .iter()
                    .map(|h| format!("UTC{}", offset_text(*h)))
                    .collect();
                let _ = writeln!(
                    out,
                    "Days: the usage records fit {} (TIMEZONE_OFFSET); set KEYWARD_TIMEZONE to \
                     claude-relay-service's.",
                    if shown.is_empty() {
                        "no single offset".to_string()
                    } else {
                        shown.join(" or ")
                    }
                );
            }
        }
        if self.dangling_lookups > 0 {
            let _ = writeln!(
                out,
                "{} hash lookups name keys that no longer exist (not imported).",
                self.dangling_lookups
            );
        }
        if !self.orphan_usage_ids.is_empty() {
            let _ = writeln!(
                out,
                "{} ids have usage counters but no key (erased keys; not imported).",
                self.orphan_usage_ids.len()
            );
        }
        for name in self.not_hashes {
            let _ = writeln!(out, "{name} is not a hash (not imported).");
        }
        for key in &self.keys {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "key {} {:?}: {}{}",
                key.key.id,
                key.key.name,
                key.status.as_str(),
                if key.key.in_hash_map || key.status == CrsKeyStatus::Deleted {
                    ""
                } else {
                    " (its hash is not in apikey:hash_map: claude-relay-service refuses its secret)"
                }
            );
            if let Some(reason) = &key.skip_reason {
                let _ = writeln!(out, "  would skip: {reason}");
            }
            let usage = key.usage;
            let _ = writeln!(
                out,
                "  usage: {} requests, {} tokens, cost ${} (real ${}), on {} days in {} months",
                usage.total.requests,
                usage.total.all_tokens,
                usage.costs.total,
                usage.costs.real_total,
                usage.daily.len(),
                usage.monthly.len()
            );
            for problem in &usage.problems {
                let _ = writeln!(
                    out,
                    "  usage not carried over: {}: {}",
                    problem.field, problem.message
                );
            }
            for left in &key.not_carried_over {
                let _ = writeln!(out, "  not carried over: {}: {}", left.field, left.reason);
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "Dry run: nothing was written.");
        out
    }
}

/// What happened to one key in a writing import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyOutcome {
    Imported,
    /// Imported before from the same data; nothing written.
    Unchanged,
    /// A keyward key with this id differs from the source; not overwritten.
    Differs,
    Skipped,
}

/// One key in the report of a writing import.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyImportReport {
    pub id: String,
    pub name: String,
    pub outcome: KeyOutcome,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// For `differs`: the fields (`usage` for the counters) that differ from the source.
    pub differing_fields: Vec<String>,
    /// For `unchanged`: fields changed in keyward since the import (kept).
    pub changed_in_keyward: Vec<String>,
    pub not_carried_over: Vec<NotCarried>,
    /// The usage read from the source, to compare with keyward's totals.
    pub requests: u64,
    pub tokens: u64,
    #[serde(serialize_with = "usd")]
    pub cost: NanoUsd,
}

impl KeyImportReport {
    /// Whether the key is in keyward from this source (imported now or before).
    pub fn is_in_keyward(&self) -> bool {
        matches!(self.outcome, KeyOutcome::Imported | KeyOutcome::Unchanged)
    }
}

/// Usage claude-relay-service keeps that no key's import carries over.
pub fn usage_not_carried() -> Vec<NotCarried> {
    [
        (
            "hourly counters",
            "keyward counts usage by day, month and in total, not by hour",
        ),
        (
            "real cost",
            "keyward keeps one cost: the rated cost (real cost × service rates), which \
             claude-relay-service's limits compare, is imported",
        ),
        (
            "per-model monthly and all-time counters",
            "keyward keeps usage per model by day; the monthly and total counters are imported \
             whole",
        ),
        (
            "long-context counters",
            "keyward does not count 1M-context requests apart",
        ),
        (
            "running rate window and weekly Opus cost",
            "they start afresh in keyward",
        ),
        ("request records", "usage:records:<id> are not imported"),
    ]
    .into_iter()
    .map(|(field, reason)| NotCarried::new(field, reason))
    .collect()
}

/// Usage totals of a set of keys, to compare the source with keyward.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub keys: usize,
    pub requests: u64,
    pub tokens: u64,
    #[serde(serialize_with = "usd")]
    pub cost: NanoUsd,
}

impl Totals {
    pub fn add(&mut self, requests: u64, tokens: u64, cost: NanoUsd) {
        self.keys += 1;
        self.requests = self.requests.saturating_add(requests);
        self.tokens = self.tokens.saturating_add(tokens);
        self.cost = self.cost.checked_add(cost).unwrap_or(self.cost);
    }

    fn text(&self) -> String {
        format!(
            "{} requests, {} tokens, cost ${}",
            self.requests, self.tokens, self.cost
        )
    }
}

/// The report of a writing import.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub source: String,
    pub keyward_timezone: String,
    /// Set when the source's day offset could not be told from its data.
    pub timezone_warning: Option<String>,
    pub keys_found: usize,
    pub imported: usize,
    pub unchanged: usize,
    pub differs: usize,
    pub skipped: usize,
    pub usage_not_carried_over: Vec<NotCarried>,
    /// Usage of the keys now in keyward from this source (imported or unchanged), as the
    /// source counted it and as keyward reads it back after the import.
    pub source_totals: Totals,
    pub keyward_totals: Totals,
    pub keys: Vec<KeyImportReport>,
}

impl ImportReport {
    pub fn new(
        source: &str,
        keyward_timezone: String,
        timezone_warning: Option<String>,
        keys: Vec<KeyImportReport>,
        keyward_totals: Totals,
    ) -> ImportReport {
        let count = |outcome: KeyOutcome| keys.iter().filter(|k| k.outcome == outcome).count();
        let mut source_totals = Totals::default();
        for key in keys.iter().filter(|k| k.is_in_keyward()) {
            source_totals.add(key.requests, key.tokens, key.cost);
        }
        ImportReport {
            source: source.to_string(),
            keyward_timezone,
            timezone_warning,
            keys_found: keys.len(),
            imported: count(KeyOutcome::Imported),
            unchanged: count(KeyOutcome::Unchanged),
            differs: count(KeyOutcome::Differs),
            skipped: count(KeyOutcome::Skipped),
            usage_not_carried_over: usage_not_carried(),
            source_totals,
            keyward_totals,
            keys,
        }
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "claude-relay-service Redis at {}: {} keys",
            self.source, self.keys_found
        );
        if let Some(warning) = &self.timezone_warning {
            let _ = writeln!(out, "Warning: {warning}");
        }
        for key in &self.keys {
            let _ = writeln!(out);
            let head = format!("key {} {:?}", key.id, key.name);
            let _ = match key.outcome {
                KeyOutcome::Imported => writeln!(out, "{head}: imported"),
                KeyOutcome::Unchanged => writeln!(
                    out,
                    "{head}: unchanged (imported before from the same data; nothing written)"
                ),
                KeyOutcome::Differs => writeln!(
                    out,
                    "{head}: exists, differs ({}): not overwritten",
                    key.differing_fields.join(", ")
                ),
                KeyOutcome::Skipped => writeln!(
                    out,
                    "{head}: skipped: {}",
                    key.reason.as_deref().unwrap_or("")
                ),
            };
            if !key.changed_in_keyward.is_empty() {
                let _ = writeln!(
                    out,
                    "  changed in keyward since the import (kept): {}",
                    key.changed_in_keyward.join(", ")
                );
            }
            let _ = writeln!(
                out,
                "  usage: {} requests, {} tokens, cost ${}",
                key.requests, key.tokens, key.cost
            );
            for left in &key.not_carried_over {
                let _ = writeln!(out, "  not carried over: {}: {}", left.field, left.reason);
            }
        }
        let _ = writeln!(out);
        for left in &self.usage_not_carried_over {
            let _ = writeln!(
                out,
                "Not carried over for any key: {}: {}",
                left.field, left.reason
            );
        }
        let _ = writeln!(
            out,
            "Usage of the {} keys imported or unchanged: claude-relay-service counted {}; \
             keyward now holds {}{}.",
            self.source_totals.keys,
            self.source_totals.text(),
            self.keyward_totals.text(),
            if self.source_totals == self.keyward_totals {
                " (the same)"
            } else {
                " (they differ: usage recorded in either since the import, or counters that \
                 could not be read)"
            }
        );
        let _ = writeln!(
            out,
            "Imported {} keys; unchanged {}; exist and differ {}; skipped {}.",
            self.imported, self.unchanged, self.differs, self.skipped
        );
        out
    }
}

impl DryRunReport<'_> {
    /// Why the days of the source cannot be carried over as they are (`Err`), or a warning
    /// when its data cannot tell (`Ok(Some)`): claude-relay-service files usage under days of
    /// its `TIMEZONE_OFFSET`, keyward under days of `KEYWARD_TIMEZONE`.
    pub fn timezone_check(
        &self,
        keyward_zone: &Zone,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, String> {
        let keyward_seconds = zone_offset_seconds(keyward_zone, now);
        let offsets = &self.timezone.consistent_offsets_hours;
        if self.timezone.records_checked == 0 || offsets.is_empty() {
            return Ok(Some(format!(
                "the usage of the last 7 days does not tell claude-relay-service's TIMEZONE_OFFSET \
                 (default +8); daily usage is imported under the same dates, so \
                 KEYWARD_TIMEZONE ({}) must be that offset",
                self.keyward_timezone
            )));
        }
        if offsets.iter().any(|hours| hours * 3600 == keyward_seconds) {
            return Ok(None);
        }
        let fits = match offsets.as_slice() {
            [one] => format!("UTC{}", offset_text(*one)),
            several => several
                .iter()
                .map(|h| format!("UTC{}", offset_text(*h)))
                .collect::<Vec<_>>()
                .join(" or "),
        };
        let advice = match offsets.as_slice() {
            [one] => format!("set KEYWARD_TIMEZONE={} and run again", offset_text(*one)),
            _ => "set KEYWARD_TIMEZONE to claude-relay-service's TIMEZONE_OFFSET and run again"
                .to_string(),
        };
        Err(format!(
            "claude-relay-service counted its days at {fits} (TIMEZONE_OFFSET), but \
             KEYWARD_TIMEZONE is {}: daily usage and daily limits would land on other days. \
             {advice}. Nothing was written.",
            self.keyward_timezone
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::crs::parse_key;
    use std::collections::HashMap;

    const ID: &str = "8fc5b6a2-447c-48ac-a245-b972be1377c5";
    const HASH: &str = "870aa3a03d5b2fb9861b5cdd0ce2106264c3fcad6bbe61fb6fde8a60015073bd";

    fn key(pairs: &[(&str, &str)]) -> CrsKey {
        let hash: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_key(ID, &hash, true)
    }

    fn fields(left: &[NotCarried]) -> Vec<&str> {
        left.iter().map(|n| n.field.as_str()).collect()
    }

    #[test]
    fn a_plain_key_loses_nothing() {
        let plain = key(&[
            ("apiKey", HASH),
            ("isActive", "true"),
            ("serviceRates", "{}"),
            ("enableOpenAIResponsesCodexAdaptation", "true"),
            ("allowedClients", r#"["claude_code"]"#),
        ]);
        assert_eq!(not_carried_over(&plain, &["claude_code"]), vec![]);
        assert_eq!(skip_reason(&plain), None);
    }

    #[test]
    fn crs_only_settings_are_listed() {
        let full = key(&[
            ("apiKey", HASH),
            ("weeklyOpusCostLimit", "40"),
            ("serviceRates", r#"{"claude":1.5}"#),
            ("icon", "data:image/png;base64,AAAA"),
            ("userId", "user-1"),
            ("userUsername", "alice"),
            ("enableOpenAIResponsesCodexAdaptation", "false"),
            ("enableOpenAIResponsesPayloadRules", "true"),
            ("ccrAccountId", "ccr-1"),
            ("claudeAccountId", "has space"),
            ("allowedClients", r#"["claude_code","my_cli"]"#),
            ("restoredAt", "2026-11-27T18:41:59.310Z"),
            ("mystery", "x"),
            ("dailyCostLimit", "lots"),
        ]);
        let left = not_carried_over(&full, &["claude_code"]);
        assert_eq!(
            fields(&left),
            vec![
                "dailyCostLimit",
                "mystery",
                "weeklyOpusCostLimit",
                "serviceRates",
                "icon",
                "userId",
                "enableOpenAIResponsesCodexAdaptation",
                "openaiResponsesPayloadRules",
                "ccrAccountId",
                "claudeAccountId",
                "allowedClients",
                "restoredAt",
            ]
        );
        assert!(left[10].reason.contains("my_cli"));
    }

    #[test]
    fn keys_without_a_usable_id_or_hash_are_skipped() {
        let hash: HashMap<String, String> = [("apiKey".to_string(), HASH.to_string())].into();
        let odd_id = parse_key("key-1", &hash, true);
        assert!(skip_reason(&odd_id).is_some());
        let no_hash = key(&[("name", "x")]);
        assert!(skip_reason(&no_hash).is_some());
    }

    #[test]
    fn offsets_are_written_as_keyward_reads_them() {
        assert_eq!(offset_text(-7), "-07:00");
        assert_eq!(offset_text(8), "+08:00");
        assert_eq!(offset_text(0), "+00:00");
        let zone = Zone::parse("Asia/Shanghai").expect("valid");
        assert_eq!(zone_offset_seconds(&zone, Utc::now()), 8 * 3600);
    }
}
