//! What the in-process listing index is built from: the `{idx}` indexes, read in small steps,
//! and the change stream every index write appends to. Nothing here walks all keys in one
//! command: a load is many `ZSCAN` steps of `LOAD_STEP` keys.

use chrono::NaiveDate;
use redis::Value;

use super::names::index;
use super::{Store, StoreError, StoreResult};
use crate::domain::ids::KeyId;
use crate::domain::listing_index::{IndexChange, IndexedKey};

/// Keys per load step: each of the step's commands reads this many entries (well under a
/// millisecond of Redis time each).
pub const LOAD_STEP: usize = 500;

/// Changes read per call.
pub const CHANGES_STEP: usize = 1000;

/// One load step: the keys found and where the scan goes on (`0` when done).
pub struct LoadStep {
    pub keys: Vec<IndexedKey>,
    /// Today's cost of each key in `keys` (same order), nano-USD.
    pub costs: Vec<i64>,
    pub next_cursor: u64,
}

/// Changes after a position in the stream.
pub struct ChangeBatch {
    /// `(sequence, change)` in order; a change the index cannot read is skipped (logged).
    pub changes: Vec<(u64, IndexChange)>,
    /// The sequence of the first entry the stream still holds after the position, to tell
    /// whether entries were trimmed before this instance read them.
    pub first_sequence: Option<u64>,
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        Value::Double(d) => Some(d.to_string()),
        _ => None,
    }
}

fn number(value: &Value) -> Option<i64> {
    let text = text(value)?;
    text.parse::<i64>()
        .ok()
        .or_else(|| text.parse::<f64>().ok().map(|f| f as i64))
}

/// `0-N` → N (the stream's entries are numbered `0-1`, `0-2`, ... by `XADD ... 0-*`).
fn sequence(entry_id: &str) -> Option<u64> {
    entry_id.strip_prefix("0-")?.parse().ok()
}

/// A key's row (`revision \t name \t tags \t accounts`, see `index::ROWS`) as its name and
/// tags JSON; `None` for a soft-deleted key's row (its revision alone). The tags and accounts
/// are JSON, which has no raw tab, so the name is whatever lies between the revision and them.
fn split_row(row: &str) -> Option<(&str, &str)> {
    let (_revision, rest) = row.split_once('\t')?;
    let mut from_end = rest.rsplitn(3, '\t');
    let _accounts = from_end.next()?;
    let tags = from_end.next()?;
    let name = from_end.next()?;
    (!name.is_empty()).then_some((name, tags))
}

/// The day of a `kw:{idx}:cost:YYYY-MM-DD` key.
fn cost_day(key: &str) -> String {
    key.rsplit(':').next().unwrap_or_default().to_string()
}

impl Store {
    /// The stream's newest sequence now (0 when empty): a load replays from here.
    pub async fn listing_changes_head(&self) -> StoreResult<u64> {
        let mut conn = self.conn();
        let newest: Vec<(String, Value)> = self
            .bounded(async move {
                redis::cmd("XREVRANGE")
                    .arg(index::CHANGES)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(newest.first().and_then(|(id, _)| sequence(id)).unwrap_or(0))
    }

    /// One step of a load: up to about `LOAD_STEP` keys from `cursor` (start with 0).
    pub async fn listing_load_step(&self, cursor: u64, today: NaiveDate) -> StoreResult<LoadStep> {
        let mut conn = self.conn();
        let (next_cursor, flat): (u64, Vec<String>) = self
            .bounded(async move {
                redis::cmd("ZSCAN")
                    .arg(index::CREATED)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(LOAD_STEP)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        let mut ids = Vec::with_capacity(flat.len() / 2);
        let mut created = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks_exact(2) {
            if let Some(id) = KeyId::parse(&pair[0]) {
                ids.push(id);
                created.push(pair[1].parse::<f64>().map(|f| f as i64).unwrap_or(0));
            }
        }
        if ids.is_empty() {
            return Ok(LoadStep {
                keys: Vec::new(),
                costs: Vec::new(),
                next_cursor,
            });
        }
        let id_texts: Vec<String> = ids.iter().map(KeyId::to_string).collect();
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET").arg(index::ROWS).arg(&id_texts);
        pipe.cmd("SMISMEMBER").arg(index::DISABLED).arg(&id_texts);
        pipe.cmd("ZMSCORE").arg(index::EXPIRES).arg(&id_texts);
        pipe.cmd("ZMSCORE").arg(index::LAST_USED).arg(&id_texts);
        pipe.cmd("ZMSCORE")
            .arg(index::cost_on(today))
            .arg(&id_texts);
        // Keys not moved from the previous release's hashes yet (see `index::ROWS`).
        pipe.cmd("HMGET").arg(index::NAMES).arg(&id_texts);
        pipe.cmd("HMGET").arg(index::KEY_TAGS).arg(&id_texts);
        let mut conn = self.conn();
        let replies: Vec<Vec<Value>> = self
            .bounded(async move { pipe.query_async(&mut conn).await })
            .await?;
        let from = "the listing load pipeline";
        let [rows, disabled, expires, last_used, costs, legacy_names, legacy_tags] =
            <[Vec<Value>; 7]>::try_from(replies)
                .map_err(|r| StoreError::unexpected(from, format!("{} replies, not 7", r.len())))?;
        let mut step = LoadStep {
            keys: Vec::with_capacity(ids.len()),
            costs: Vec::with_capacity(ids.len()),
            next_cursor,
        };
        for (i, id) in ids.into_iter().enumerate() {
            let row = rows.get(i).and_then(text);
            let (name, tags) = match row.as_deref().and_then(split_row) {
                Some((name, tags)) => (name.to_string(), tags.to_string()),
                None => {
                    let Some(name) = legacy_names.get(i).and_then(text) else {
                        // Removed between the scan and the reads: the change stream says so too.
                        continue;
                    };
                    (name, legacy_tags.get(i).and_then(text).unwrap_or_default())
                }
            };
            step.keys.push(IndexedKey {
                id,
                name,
                tags: serde_json::from_str::<Vec<String>>(&tags).unwrap_or_default(),
                active: disabled.get(i).and_then(number) != Some(1),
                expires_at_ms: expires.get(i).and_then(number),
                created_at_ms: created[i],
                last_used_at_ms: last_used.get(i).and_then(number).unwrap_or(0),
            });
            step.costs.push(costs.get(i).and_then(number).unwrap_or(0));
        }
        Ok(step)
    }

    /// Up to `CHANGES_STEP` changes after sequence `after`.
    pub async fn listing_changes(&self, after: u64) -> StoreResult<ChangeBatch> {
        let mut conn = self.conn();
        let entries: Vec<(String, Vec<Value>)> = self
            .bounded(async move {
                redis::cmd("XRANGE")
                    .arg(index::CHANGES)
                    .arg(format!("(0-{after}"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(CHANGES_STEP)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        let first_sequence = entries.first().and_then(|(id, _)| sequence(id));
        let mut changes = Vec::with_capacity(entries.len());
        for (entry_id, fields) in &entries {
            let Some(seq) = sequence(entry_id) else {
                continue;
            };
            match decode_change(fields) {
                Some(change) => changes.push((seq, change)),
                None => {
                    tracing::warn!(entry = %entry_id, "unreadable listing change skipped");
                }
            }
        }
        Ok(ChangeBatch {
            changes,
            first_sequence,
        })
    }
}

fn decode_change(fields: &[Value]) -> Option<IndexChange> {
    let mut get = std::collections::HashMap::new();
    for pair in fields.chunks_exact(2) {
        get.insert(text(&pair[0])?, &pair[1]);
    }
    let field = |name: &str| get.get(name).and_then(|v| text(v));
    let id = KeyId::parse(&field("i")?)?;
    match field("o")?.as_str() {
        "u" => Some(IndexChange::Upsert(IndexedKey {
            id,
            name: field("n")?,
            tags: serde_json::from_str(&field("t")?).unwrap_or_default(),
            active: field("a").as_deref() == Some("1"),
            expires_at_ms: field("e").and_then(|e| e.parse().ok()),
            created_at_ms: field("c")?.parse().ok()?,
            last_used_at_ms: field("l").and_then(|l| l.parse().ok()).unwrap_or(0),
        })),
        "r" => Some(IndexChange::Remove(id)),
        "c" => Some(IndexChange::Usage {
            id,
            last_used_at_ms: get.get("l").and_then(|v| number(v)).unwrap_or(0),
            day: cost_day(&field("d")?),
            cost_nanos: get.get("v").and_then(|v| number(v)).unwrap_or(0),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::split_row;

    #[test]
    fn a_row_splits_into_name_and_tags_whatever_the_name_holds() {
        assert_eq!(
            split_row("3\tteam a\t[\"prod\"]\t[\"acct-1\"]"),
            Some(("team a", "[\"prod\"]"))
        );
        assert_eq!(split_row("1\ttab\there\t[]\t[]"), Some(("tab\there", "[]")));
        // A soft-deleted key's row keeps only its revision.
        assert_eq!(split_row("7\t\t[]\t[]"), None);
    }
}
