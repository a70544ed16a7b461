//! What the in-process listing index is built from: the `{idx}` indexes, read in small steps,
//! and the change stream every index write appends to. Nothing here walks all keys in one
//! command: a load is many `HSCAN` steps of `LOAD_STEP` keys.

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

/// One load step: the keys found and where the load goes on.
pub struct LoadStep {
    pub keys: Vec<IndexedKey>,
    /// Today's cost of each key in `keys` (same order), nano-USD.
    pub costs: Vec<i64>,
    /// Where the load goes on; `None` when it is done.
    pub next: Option<LoadCursor>,
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

/// A key's row (see `index::ROWS`) as the listing reads it.
#[derive(Debug, PartialEq, Eq)]
enum Row<'a> {
    /// A listed key: its lowercase name, tags JSON, and creation time (ms) when the row holds
    /// it (`None` for a row of the previous release, whose creation time is in
    /// `index::LEGACY_CREATED`).
    Listed {
        name: &'a str,
        tags: &'a str,
        created_at_ms: Option<i64>,
    },
    /// A soft-deleted key's row (its revision alone), or one that cannot be read.
    Unlisted,
}

/// Reads a row: `revision[:created ms] \t name \t tags \t accounts`. Everything up to the
/// first tab is keyward's own (the name comes after it), so a `:` there marks the new form
/// whatever the name holds. The tags and accounts are JSON, which has no raw tab, so the name
/// is whatever lies between the first field and them.
fn parse_row(row: &str) -> Row<'_> {
    let Some((head, rest)) = row.split_once('\t') else {
        return Row::Unlisted;
    };
    let created_at_ms = match head.split_once(':') {
        None => None,
        Some((_revision, created)) => match created.parse::<i64>() {
            Ok(ms) => Some(ms),
            Err(_) => return Row::Unlisted,
        },
    };
    let mut from_end = rest.rsplitn(3, '\t');
    let (Some(_accounts), Some(tags), Some(name)) =
        (from_end.next(), from_end.next(), from_end.next())
    else {
        return Row::Unlisted;
    };
    if name.is_empty() {
        return Row::Unlisted;
    }
    Row::Listed {
        name,
        tags,
        created_at_ms,
    }
}

/// Where a load goes on: the rows first, then the keys the release before the previous one
/// indexed (an entry in `index::LEGACY_CREATED` and its four hashes, no row yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadCursor {
    /// An `HSCAN` of `index::ROWS` at this cursor.
    Rows(u64),
    /// A `ZSCAN` of `index::LEGACY_CREATED` at this cursor.
    LegacyCreated(u64),
}

impl LoadCursor {
    pub const START: LoadCursor = LoadCursor::Rows(0);

    /// The cursor after a scan step that answered `next` (`0`: this scan is done).
    fn after(self, next: u64) -> Option<LoadCursor> {
        match (self, next) {
            (LoadCursor::Rows(_), 0) => Some(LoadCursor::LegacyCreated(0)),
            (LoadCursor::Rows(_), next) => Some(LoadCursor::Rows(next)),
            (LoadCursor::LegacyCreated(_), 0) => None,
            (LoadCursor::LegacyCreated(_), next) => Some(LoadCursor::LegacyCreated(next)),
        }
    }
}

/// A key a load step found, before its sort values are read.
struct Found {
    id: KeyId,
    name: String,
    tags: String,
    created_at_ms: Option<i64>,
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

    /// One step of a load: up to about `LOAD_STEP` keys from `cursor` (start with
    /// `LoadCursor::START`, go on with `next`).
    pub async fn listing_load_step(
        &self,
        cursor: LoadCursor,
        today: NaiveDate,
    ) -> StoreResult<LoadStep> {
        let (next_scan, found) = match cursor {
            LoadCursor::Rows(at) => self.scan_rows(at).await?,
            LoadCursor::LegacyCreated(at) => self.scan_legacy_created(at).await?,
        };
        let next = cursor.after(next_scan);
        if found.is_empty() {
            return Ok(LoadStep {
                keys: Vec::new(),
                costs: Vec::new(),
                next,
            });
        }
        let id_texts: Vec<String> = found.iter().map(|f| f.id.to_string()).collect();
        // Rows of the previous release have no creation time: it is in the legacy zset.
        let undated: Vec<&String> = found
            .iter()
            .zip(&id_texts)
            .filter(|(f, _)| f.created_at_ms.is_none())
            .map(|(_, id)| id)
            .collect();
        let mut pipe = redis::pipe();
        pipe.cmd("SMISMEMBER").arg(index::DISABLED).arg(&id_texts);
        pipe.cmd("ZMSCORE").arg(index::EXPIRES).arg(&id_texts);
        pipe.cmd("ZMSCORE").arg(index::LAST_USED).arg(&id_texts);
        pipe.cmd("ZMSCORE")
            .arg(index::cost_on(today))
            .arg(&id_texts);
        if !undated.is_empty() {
            pipe.cmd("ZMSCORE").arg(index::LEGACY_CREATED).arg(&undated);
        }
        let mut conn = self.conn();
        let replies: Vec<Vec<Value>> = self
            .bounded(async move { pipe.query_async(&mut conn).await })
            .await?;
        let from = "the listing load pipeline";
        let expected = if undated.is_empty() { 4 } else { 5 };
        if replies.len() != expected {
            return Err(StoreError::unexpected(
                from,
                format!("{} replies, not {expected}", replies.len()),
            ));
        }
        let mut replies = replies.into_iter();
        let mut reply = || replies.next().unwrap_or_default();
        let (disabled, expires, last_used, costs) = (reply(), reply(), reply(), reply());
        let mut legacy_created = reply().into_iter();
        let mut step = LoadStep {
            keys: Vec::with_capacity(found.len()),
            costs: Vec::with_capacity(found.len()),
            next,
        };
        for (i, key) in found.into_iter().enumerate() {
            let created_at_ms = match key.created_at_ms {
                Some(ms) => ms,
                None => match legacy_created.next().as_ref().and_then(number) {
                    Some(ms) => ms,
                    // Moved to its new row or removed between the scan and the reads: the
                    // change stream, replayed after the load, says so.
                    None => continue,
                },
            };
            step.keys.push(IndexedKey {
                id: key.id,
                name: key.name,
                tags: serde_json::from_str::<Vec<String>>(&key.tags).unwrap_or_default(),
                active: disabled.get(i).and_then(number) != Some(1),
                expires_at_ms: expires.get(i).and_then(number),
                created_at_ms,
                last_used_at_ms: last_used.get(i).and_then(number).unwrap_or(0),
            });
            step.costs.push(costs.get(i).and_then(number).unwrap_or(0));
        }
        Ok(step)
    }

    /// One step of about `LOAD_STEP` entries of an `HSCAN` or `ZSCAN` (`command`) of `key`: the
    /// next cursor, and the entries as a flat field, value (or member, score) list.
    async fn scan_step(
        &self,
        command: &'static str,
        key: &'static str,
        cursor: u64,
    ) -> StoreResult<(u64, Vec<String>)> {
        let mut conn = self.conn();
        self.bounded(async move {
            redis::cmd(command)
                .arg(key)
                .arg(cursor)
                .arg("COUNT")
                .arg(LOAD_STEP)
                .query_async(&mut conn)
                .await
        })
        .await
    }

    /// The listed keys of one `HSCAN` step of the rows, and the scan's next cursor.
    async fn scan_rows(&self, cursor: u64) -> StoreResult<(u64, Vec<Found>)> {
        let (next, flat) = self.scan_step("HSCAN", index::ROWS, cursor).await?;
        let found = flat
            .chunks_exact(2)
            .filter_map(|pair| {
                let id = KeyId::parse(&pair[0])?;
                match parse_row(&pair[1]) {
                    Row::Listed {
                        name,
                        tags,
                        created_at_ms,
                    } => Some(Found {
                        id,
                        name: name.to_string(),
                        tags: tags.to_string(),
                        created_at_ms,
                    }),
                    Row::Unlisted => None,
                }
            })
            .collect();
        Ok((next, found))
    }

    /// One `ZSCAN` step of the legacy created zset: the keys in it that have no row (indexed by
    /// the release before the previous one, read from its hashes), and the scan's next cursor.
    /// Keys with a row were found by the rows' scan, or are deleted.
    async fn scan_legacy_created(&self, cursor: u64) -> StoreResult<(u64, Vec<Found>)> {
        let (next, flat) = self
            .scan_step("ZSCAN", index::LEGACY_CREATED, cursor)
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
            return Ok((next, Vec::new()));
        }
        let id_texts: Vec<String> = ids.iter().map(KeyId::to_string).collect();
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET").arg(index::ROWS).arg(&id_texts);
        pipe.cmd("HMGET").arg(index::NAMES).arg(&id_texts);
        pipe.cmd("HMGET").arg(index::KEY_TAGS).arg(&id_texts);
        let mut conn = self.conn();
        let replies: Vec<Vec<Value>> = self
            .bounded(async move { pipe.query_async(&mut conn).await })
            .await?;
        let from = "the legacy listing load pipeline";
        let [rows, names, tags] = <[Vec<Value>; 3]>::try_from(replies)
            .map_err(|r| StoreError::unexpected(from, format!("{} replies, not 3", r.len())))?;
        let mut found = Vec::new();
        for (i, id) in ids.into_iter().enumerate() {
            if rows.get(i).and_then(text).is_some() {
                continue;
            }
            let Some(name) = names.get(i).and_then(text) else {
                // Removed between the scan and the reads: the change stream says so too.
                continue;
            };
            found.push(Found {
                id,
                name,
                tags: tags.get(i).and_then(text).unwrap_or_default(),
                created_at_ms: Some(created[i]),
            });
        }
        Ok((next, found))
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
    use super::{parse_row, LoadCursor, Row};

    fn listed(name: &'static str, tags: &'static str, created_at_ms: Option<i64>) -> Row<'static> {
        Row::Listed {
            name,
            tags,
            created_at_ms,
        }
    }

    #[test]
    fn a_row_reads_its_name_tags_and_creation_time_whatever_the_name_holds() {
        assert_eq!(
            parse_row("3:1700000000123\tteam a\t[\"prod\"]\t[\"acct-1\"]"),
            listed("team a", "[\"prod\"]", Some(1_700_000_000_123))
        );
        assert_eq!(
            parse_row("1:5\ttab\there\t[]\t[]"),
            listed("tab\there", "[]", Some(5))
        );
        // A name that looks like a row's first field stays a name.
        assert_eq!(
            parse_row("2:7\t4:1700000000000\t[]\t[]"),
            listed("4:1700000000000", "[]", Some(7))
        );
    }

    #[test]
    fn a_row_of_the_previous_release_has_no_creation_time_whatever_its_name_holds() {
        assert_eq!(
            parse_row("3\tteam a\t[\"prod\"]\t[\"acct-1\"]"),
            listed("team a", "[\"prod\"]", None)
        );
        // Its name may look like the new form's first field: the first tab comes before it.
        assert_eq!(
            parse_row("3\t4:1700000000000\tx\t[]\t[]"),
            listed("4:1700000000000\tx", "[]", None)
        );
    }

    #[test]
    fn a_soft_deleted_keys_row_is_not_listed() {
        assert_eq!(parse_row("7\t\t[]\t[]"), Row::Unlisted);
        assert_eq!(parse_row("7"), Row::Unlisted);
        assert_eq!(parse_row("7:x\tname\t[]\t[]"), Row::Unlisted);
    }

    #[test]
    fn a_load_scans_the_rows_then_the_legacy_zset() {
        let mut cursor = Some(LoadCursor::START);
        let mut visited = Vec::new();
        for answer in [12, 0, 5, 0] {
            let at = cursor.expect("not done yet");
            visited.push(at);
            cursor = at.after(answer);
        }
        assert_eq!(
            visited,
            [
                LoadCursor::Rows(0),
                LoadCursor::Rows(12),
                LoadCursor::LegacyCreated(0),
                LoadCursor::LegacyCreated(5)
            ]
        );
        assert_eq!(cursor, None);
    }
}
