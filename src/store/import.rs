//! Writing a key brought over from another key service: its usage and record in short scripts
//! on its own slot, then its index entries and secret lookup through the paths keyward's own
//! writes use.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use redis::{AsyncCommands, Script, Value};
use sha2::{Digest, Sha256};

use super::keys::IndexRow;
use super::names::{self, index, KeyNames};
use super::records::{absent_means, encode_changes};
use super::usage::{expiry_ms, DAILY_RETENTION_DAYS, MONTHLY_RETENTION_DAYS};
use super::{decode, Store, StoreError, StoreResult};
use crate::domain::ids::KeyId;
use crate::domain::imported::{ImportOutcome, ImportedKey};
use crate::domain::key::UsageTotals;

struct ImportScripts {
    import_usage: Script,
    import_key: Script,
    import_cost: Script,
}

static SCRIPTS: LazyLock<ImportScripts> = LazyLock::new(|| ImportScripts {
    import_usage: Script::new(include_str!("scripts/import_usage.lua")),
    import_key: Script::new(include_str!("scripts/import_key.lua")),
    import_cost: Script::new(include_str!("scripts/import_cost.lua")),
});

/// Counters written per `import_usage.lua` call: a key with a month of daily usage per model
/// holds a few thousand, which in one script would keep Redis busy for milliseconds; parts of
/// this size take a fraction of one.
const COUNTERS_PER_STEP: usize = 128;

/// The record field holding a digest of what the import wrote, so a later run can tell "the
/// same source data, imported already" from "a key that differs".
const IMPORT_DIGEST: &str = "importDigest";

/// Record fields an import does not compare: bookkeeping that changes by itself.
const NOT_COMPARED: [&str; 4] = ["rev", "updatedAt", "lastUsedAt", IMPORT_DIGEST];

/// One usage bucket to write: its name, expiry (ms; `None` = kept for good) and counters.
struct Bucket {
    name: String,
    expires_at_ms: Option<i64>,
    counters: Vec<(String, String)>,
}

/// The counters of `totals` as keyward's usage hashes name them (zeros left out, as a usage
/// record leaves them out), each field name followed by `suffix` (`|<model>` per model).
fn counters(totals: &UsageTotals, suffix: &str) -> Vec<(String, String)> {
    [
        ("requests", totals.requests.to_string()),
        ("inputTokens", totals.input_tokens.to_string()),
        ("outputTokens", totals.output_tokens.to_string()),
        (
            "cacheCreate5mTokens",
            totals.cache_create_5m_tokens.to_string(),
        ),
        (
            "cacheCreate1hTokens",
            totals.cache_create_1h_tokens.to_string(),
        ),
        ("cacheReadTokens", totals.cache_read_tokens.to_string()),
        ("cost", totals.cost.nanos().to_string()),
    ]
    .into_iter()
    .filter(|(_, amount)| amount != "0")
    .map(|(counter, amount)| (format!("{counter}{suffix}"), amount))
    .collect()
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// The buckets of `key`, leaving out dated ones whose retention is over at `now`.
fn buckets(key: &ImportedKey, now: DateTime<Utc>) -> Vec<Bucket> {
    let names = KeyNames::new(key.id);
    let usage = &key.usage;
    let mut buckets = vec![Bucket {
        name: names.usage_total(),
        expires_at_ms: None,
        counters: counters(&usage.total, ""),
    }];
    let live = |expires: i64| expires > now.timestamp_millis();
    for (date, totals) in &usage.daily {
        let expires = expiry_ms(*date, DAILY_RETENTION_DAYS);
        if live(expires) {
            buckets.push(Bucket {
                name: names.usage_day(*date),
                expires_at_ms: Some(expires),
                counters: counters(totals, ""),
            });
        }
    }
    for (date, models) in &usage.daily_by_model {
        let expires = expiry_ms(*date, DAILY_RETENTION_DAYS);
        if live(expires) {
            let per_model: BTreeMap<String, String> = models
                .iter()
                .flat_map(|(model, totals)| counters(totals, &format!("|{model}")))
                .collect();
            buckets.push(Bucket {
                name: names.usage_day_by_model(*date),
                expires_at_ms: Some(expires),
                counters: per_model.into_iter().collect(),
            });
        }
    }
    for (month, totals) in &usage.monthly {
        let expires = expiry_ms(first_of_month(*month), MONTHLY_RETENTION_DAYS);
        if live(expires) {
            buckets.push(Bucket {
                name: names.usage_month(*month),
                expires_at_ms: Some(expires),
                counters: counters(totals, ""),
            });
        }
    }
    buckets.retain(|bucket| !bucket.counters.is_empty());
    buckets
}

/// The record's fields: the settings as keyward's own writes encode them, then the facts.
fn record_fields(key: &ImportedKey) -> Vec<(&'static str, String)> {
    let (mut fields, _cleared) = encode_changes(&key.changes);
    let ms = |at: DateTime<Utc>| at.timestamp_millis().to_string();
    fields.push(("hash", key.secret_hash.clone()));
    fields.push(("keyHint", key.key_hint.clone()));
    fields.push(("createdBy", key.created_by.clone()));
    fields.push(("createdAt", ms(key.created_at)));
    fields.push(("updatedAt", ms(key.updated_at)));
    if let Some(at) = key.last_used_at {
        fields.push(("lastUsedAt", ms(at)));
    }
    if let Some(at) = key.activated_at {
        fields.push(("activatedAt", ms(at)));
    }
    if let Some((at, by)) = &key.deleted {
        fields.push(("deletedAt", ms(*at)));
        fields.push(("deletedBy", by.clone()));
    }
    fields.push(("rev", "1".to_string()));
    fields
}

/// Part of a bucket's counters, written in one step.
type Part<'a> = (&'a Bucket, &'a [(String, String)]);

/// The buckets cut into steps of at most [`COUNTERS_PER_STEP`] counters (a large bucket in
/// several parts).
fn steps(buckets: &[Bucket]) -> Vec<Vec<Part<'_>>> {
    let mut steps = Vec::new();
    let mut step: Vec<Part<'_>> = Vec::new();
    let mut room = COUNTERS_PER_STEP;
    for bucket in buckets {
        let mut rest = bucket.counters.as_slice();
        while !rest.is_empty() {
            if room == 0 {
                steps.push(std::mem::take(&mut step));
                room = COUNTERS_PER_STEP;
            }
            let (part, after) = rest.split_at(rest.len().min(room));
            step.push((bucket, part));
            room -= part.len();
            rest = after;
        }
    }
    if !step.is_empty() {
        steps.push(step);
    }
    steps
}

/// A digest of everything written but expiries (which depend on the day of the run).
fn digest(fields: &[(&'static str, String)], buckets: &[Bucket]) -> String {
    let mut hasher = Sha256::new();
    let mut part = |text: &str| {
        hasher.update(text.len().to_le_bytes());
        hasher.update(text.as_bytes());
    };
    for (field, value) in fields {
        part(field);
        part(value);
    }
    for bucket in buckets {
        part(&bucket.name);
        for (counter, amount) in &bucket.counters {
            part(counter);
            part(amount);
        }
    }
    hex::encode(hasher.finalize())
}

/// The reply of `import_key.lua`.
enum ImportReply {
    Written(Box<IndexRow>),
    Exists(HashMap<String, String>),
}

impl ImportReply {
    const FROM: &'static str = "import_key.lua";

    fn decode(reply: &[Value]) -> StoreResult<ImportReply> {
        let [tag, rest @ ..] = reply else {
            return Err(StoreError::unexpected(Self::FROM, "an empty reply"));
        };
        match decode::<String>(Self::FROM, tag)?.as_str() {
            "written" => match rest {
                [row] => Ok(ImportReply::Written(Box::new(decode(Self::FROM, row)?))),
                _ => Err(StoreError::unexpected(Self::FROM, "no index row")),
            },
            "exists" => {
                let mut stored = HashMap::new();
                for pair in rest.chunks(2) {
                    if let [field, value] = pair {
                        stored.insert(decode(Self::FROM, field)?, decode(Self::FROM, value)?);
                    }
                }
                Ok(ImportReply::Exists(stored))
            }
            other => Err(StoreError::unexpected(
                Self::FROM,
                format!("an unknown tag `{other}`"),
            )),
        }
    }
}

impl Store {
    /// Writes an imported key whole, unless a key with its id exists (then compares) or its
    /// secret already belongs to another key. Its usage goes first, in short steps on the key's
    /// slot that each write nothing once the key exists; then its record (which makes it
    /// exist); then, as on create, the index entries, and the secret lookup last, so the key
    /// verifies only once everything else is in place. Every step can be run again with the
    /// same result, so a run cut short is completed by the next.
    pub async fn import_key(
        &self,
        key: &ImportedKey,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> StoreResult<ImportOutcome> {
        if let Some(owner) = self.lookup_secret(&key.secret_hash).await? {
            if owner != key.id {
                return Ok(ImportOutcome::SecretTaken { by: owner });
            }
        }
        let mut fields = record_fields(key);
        let buckets = buckets(key, now);
        let digest = digest(&fields, &buckets);
        fields.push((IMPORT_DIGEST, digest.clone()));

        let names = KeyNames::new(key.id);
        // The usage first, in steps that each stop when the key exists; then the record.
        for step in steps(&buckets) {
            let mut invocation = SCRIPTS.import_usage.prepare_invoke();
            invocation.key(names.record()).key(names.periods());
            for (bucket, _) in &step {
                invocation.key(&bucket.name);
            }
            for (bucket, counters) in &step {
                invocation
                    .arg(
                        bucket
                            .expires_at_ms
                            .map(|ms| ms.to_string())
                            .unwrap_or_default(),
                    )
                    .arg(counters.len());
                for (counter, amount) in *counters {
                    invocation.arg(counter).arg(amount);
                }
            }
            let mut conn = self.conn();
            let written: i64 = self
                .bounded(async move { invocation.invoke_async(&mut conn).await })
                .await?;
            if written == 0 {
                // The key exists: the record script reads it back for the comparison.
                break;
            }
        }
        let mut invocation = SCRIPTS.import_key.key(names.record());
        for (field, value) in &fields {
            invocation.arg(*field).arg(value);
        }
        let mut conn = self.conn();
        let reply: Vec<Value> = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        match ImportReply::decode(&reply)? {
            ImportReply::Written(row) => {
                if let Some((deleted_at, _)) = &key.deleted {
                    self.list_as_deleted(key.id, *deleted_at, "1", today)
                        .await?;
                } else {
                    self.sync_index(key.id, *row).await?;
                    let today_cost = key.usage.daily.get(&today).map(|t| t.cost.nanos());
                    if let Some(cost) = today_cost.filter(|c| *c > 0) {
                        let last_used_ms = key.last_used_at.map_or(0, |t| t.timestamp_millis());
                        self.import_today_cost(key.id, cost, last_used_ms, today)
                            .await?;
                    }
                    self.claim_secret_lookup(&key.secret_hash, key.id).await?;
                }
                Ok(ImportOutcome::Imported)
            }
            ImportReply::Exists(stored) => {
                let differing: Vec<String> = fields
                    .iter()
                    .filter(|(field, _)| !NOT_COMPARED.contains(field))
                    .filter(|(field, value)| stored.get(*field) != Some(value))
                    .map(|(field, _)| field.to_string())
                    // A setting at its default is left out of the record: the stored one
                    // differs when it holds anything else (a record of the previous release
                    // holds the default written out, which is the same).
                    .chain(
                        encode_changes(&key.changes)
                            .1
                            .into_iter()
                            .filter_map(|field| {
                                let default = absent_means(field)?;
                                let stored = stored.get(field)?;
                                (stored != default).then(|| field.to_string())
                            }),
                    )
                    .chain(
                        (stored.contains_key("deletedAt") && key.deleted.is_none())
                            .then(|| "deletedAt".to_string()),
                    )
                    .collect();
                if stored.get(IMPORT_DIGEST) != Some(&digest) {
                    let mut fields = differing;
                    if fields.is_empty() {
                        fields.push("usage".to_string());
                    }
                    return Ok(ImportOutcome::Differs { fields });
                }
                // Imported from this very data. Untouched by keyward since, the steps after
                // the script may not all have run: run them again (they change nothing when
                // they did).
                if stored.get("rev").map(String::as_str) == Some("1") {
                    if let Some((deleted_at, _)) = &key.deleted {
                        self.list_as_deleted(key.id, *deleted_at, "1", today)
                            .await?;
                    } else {
                        self.reindex_key(key.id).await?;
                        self.claim_secret_lookup(&key.secret_hash, key.id).await?;
                    }
                }
                Ok(ImportOutcome::Unchanged {
                    changed_here: differing,
                })
            }
        }
    }

    /// Today's cost in the index the key list sorts by (kept if present), announced on the
    /// listing's change stream so running instances sort by it at once.
    async fn import_today_cost(
        &self,
        id: KeyId,
        cost_nanos: i64,
        last_used_ms: i64,
        today: NaiveDate,
    ) -> StoreResult<()> {
        let mut invocation = SCRIPTS.import_cost.key(index::cost_on(today));
        invocation
            .key(index::CHANGES)
            .arg(id.to_string())
            .arg(cost_nanos)
            .arg(expiry_ms(today, DAILY_RETENTION_DAYS))
            .arg(last_used_ms)
            .arg(index::CHANGES_CAP);
        let mut conn = self.conn();
        self.bounded(async move { invocation.invoke_async::<i64>(&mut conn).await })
            .await?;
        Ok(())
    }

    /// Points the secret hash at the key unless it points somewhere already.
    async fn claim_secret_lookup(&self, secret_hash: &str, id: KeyId) -> StoreResult<()> {
        let mut conn = self.conn();
        let lookup = names::secret_lookup(secret_hash);
        let id = id.to_string();
        self.bounded(async move { conn.set_nx::<_, _, bool>(lookup, id).await })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(name: &str, counters: usize) -> Bucket {
        Bucket {
            name: name.to_string(),
            expires_at_ms: None,
            counters: (0..counters)
                .map(|i| (format!("c{i}"), i.to_string()))
                .collect(),
        }
    }

    #[test]
    fn usage_is_written_in_bounded_steps_covering_every_counter_once() {
        let buckets = [
            bucket("a", 3),
            bucket("big", 300),
            bucket("b", 0),
            bucket("c", 5),
        ];
        let steps = steps(&buckets);
        assert!(steps
            .iter()
            .all(|s| s.iter().map(|(_, c)| c.len()).sum::<usize>() <= COUNTERS_PER_STEP));
        let written: Vec<(&str, &str)> = steps
            .iter()
            .flatten()
            .flat_map(|(b, counters)| counters.iter().map(|(c, _)| (b.name.as_str(), c.as_str())))
            .collect();
        let expected: Vec<(&str, &str)> = buckets
            .iter()
            .flat_map(|b| {
                b.counters
                    .iter()
                    .map(|(c, _)| (b.name.as_str(), c.as_str()))
            })
            .collect();
        assert_eq!(written, expected);
        assert_eq!(steps.len(), 3);
    }
}
