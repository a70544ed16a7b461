//! The audit log in Redis: a capped stream per installation with a retention, and per key a
//! capped list of compact copies (same entry ids) that expires some time after the key's last
//! entry. A key's creation entry stays in the log only, found by its id, which the key's record
//! keeps (see `append_audit.lua`); keys from the previous releases have that id in a hash of
//! the `{audit}` slot, and maybe their old per-key stream, read beside the list until it expires.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, Utc};
use redis::{AsyncCommands, Script};

use super::names::{self, KeyNames};
use super::records::CREATION_AUDIT_ID;
use super::{Store, StoreResult};
use crate::domain::audit::{AuditEntry, AuditQuery, Changes, NewAuditEntry, KEY_CREATING_ACTIONS};
use crate::domain::ids::KeyId;

static APPEND: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/append_audit.lua")));
static KEEP_CREATION_AUDIT_ID: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/keep_creation_audit_id.lua")));

/// Entries one read takes from a stream while filtering.
const READ_CHUNK: usize = 500;
/// Most entries one query looks at, so a filter that matches little cannot scan the whole log.
const MAX_SCANNED: usize = 20_000;
/// Most entries one key's history keeps.
const MAX_ENTRIES_PER_KEY: usize = 1_000;

/// How much of the log is kept.
#[derive(Debug, Clone, Copy)]
pub struct AuditLimits {
    pub max_entries: u64,
    pub retention: TimeDelta,
}

impl Store {
    /// Appends an entry; returns its id. An entry that creates a key has its id kept in the
    /// key's record; any other entry about a key is given that id, to start the key's history
    /// with a copy of its creation entry.
    pub async fn append_audit(
        &self,
        entry: &NewAuditEntry<'_>,
        limits: AuditLimits,
        now: DateTime<Utc>,
    ) -> StoreResult<String> {
        let creates_key = KEY_CREATING_ACTIONS.contains(&entry.action);
        let creation = match entry.key_id {
            // Without it (its record's node unreachable) the entry is still written; a history
            // it starts has no copy of the creation, which reads still find by the record.
            Some(key_id) if !creates_key => {
                self.creation_audit_id(key_id).await.unwrap_or_else(|error| {
                    tracing::warn!(%error, key_id = %key_id, "the key's creation audit id not read");
                    None
                })
            }
            _ => None,
        };
        let mut invocation = audit_invocation(entry.key_id, creates_key, creation, limits, now);
        invocation
            .arg("actor")
            .arg(&entry.actor.name)
            .arg("action")
            .arg(entry.action)
            .arg("changes")
            .arg(serde_json::to_string(&entry.changes).unwrap_or_else(|_| "{}".into()));
        if let Some(address) = entry.actor.address {
            invocation.arg("actorIp").arg(address.to_string());
        }
        if let Some(id) = entry.key_id {
            invocation.arg("keyId").arg(id.to_string());
        }
        let mut conn = self.conn();
        let entry_id: String = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        if let (true, Some(key_id)) = (creates_key, entry.key_id) {
            let mut keep = KEEP_CREATION_AUDIT_ID.key(KeyNames::new(key_id).record());
            keep.arg(CREATION_AUDIT_ID).arg(&entry_id);
            let mut conn = self.conn();
            // The entry is written: not keeping its id loses the creation from the key's
            // history (not from the log), so it is logged, not returned.
            if let Err(error) = self
                .bounded(async move { keep.invoke_async::<i64>(&mut conn).await })
                .await
            {
                tracing::warn!(%error, key_id = %key_id, entry = %entry_id,
                    "the creation's audit id not kept in the key's record");
            }
        }
        Ok(entry_id)
    }

    /// For a key just erased whose record kept `creation` (the id of its creation entry, if
    /// any): starts the key's history with a copy of that entry, unless the history has one,
    /// so it still shows who made the key.
    pub(super) async fn keep_creation_in_history(
        &self,
        key_id: KeyId,
        creation: Option<String>,
        limits: AuditLimits,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let invocation = audit_invocation(Some(key_id), false, creation, limits, now);
        let mut conn = self.conn();
        self.bounded(async move { invocation.invoke_async::<Option<String>>(&mut conn).await })
            .await?;
        Ok(())
    }

    /// The id of the audit entry that created the key, as its record keeps it.
    async fn creation_audit_id(&self, key_id: KeyId) -> StoreResult<Option<String>> {
        let mut conn = self.conn();
        let record = KeyNames::new(key_id).record();
        self.bounded(async move { conn.hget(record, CREATION_AUDIT_ID).await })
            .await
    }

    /// Entries newest first that match the query; the second value is the id to continue
    /// from when there may be more (the page is full, or the scan stopped at its bound).
    pub async fn audit_entries(
        &self,
        query: &AuditQuery,
    ) -> StoreResult<(Vec<AuditEntry>, Option<String>)> {
        if let Some(key_id) = query.key_id {
            return self.key_audit_entries(key_id, query).await;
        }
        let mut end = match &query.before {
            Some(before) => format!("({before}"),
            None => "+".to_string(),
        };
        let mut found = Vec::new();
        let mut scanned = 0;
        loop {
            let mut conn = self.conn();
            let mut command = redis::cmd("XREVRANGE");
            command
                .arg(names::AUDIT_LOG)
                .arg(&end)
                .arg("-")
                .arg("COUNT")
                .arg(READ_CHUNK);
            let chunk: Vec<(String, HashMap<String, String>)> = self
                .bounded(async move { command.query_async(&mut conn).await })
                .await?;
            let exhausted = chunk.len() < READ_CHUNK;
            scanned += chunk.len();
            for (id, fields) in chunk {
                end = format!("({id}");
                let entry = decode_entry(id, fields);
                if query.wants(&entry) {
                    found.push(entry);
                    if found.len() == query.limit {
                        let next = found.last().map(|e| e.id.clone());
                        return Ok((found, next));
                    }
                }
            }
            if exhausted {
                return Ok((found, None));
            }
            if scanned >= MAX_SCANNED {
                return Ok((found, Some(end.trim_start_matches('(').to_string())));
            }
        }
    }

    /// One key's entries: its history list, its creation entry (from the log while the list
    /// has no copy of it) and its stream from the previous release, merged newest first. All
    /// of it is bounded by the per-key cap, so it is read whole and paged here.
    async fn key_audit_entries(
        &self,
        key_id: KeyId,
        query: &AuditQuery,
    ) -> StoreResult<(Vec<AuditEntry>, Option<String>)> {
        let id_text = key_id.to_string();
        let mut pipe = redis::pipe();
        pipe.lrange(names::audit_history(&id_text), 0, -1)
            .hget(names::LEGACY_AUDIT_CREATIONS, &id_text)
            .cmd("XREVRANGE")
            .arg(names::legacy_audit_stream(&id_text))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(2 * MAX_ENTRIES_PER_KEY);
        let mut conn = self.conn();
        let audit_reads = self.bounded(async move {
            pipe.query_async::<(Vec<String>, Option<String>, Vec<StreamEntry>)>(&mut conn)
                .await
        });
        // The record is in another slot: its read goes beside the pipeline.
        let ((history, legacy_creation, legacy), creation) =
            futures::future::try_join(audit_reads, self.creation_audit_id(key_id)).await?;
        // The previous release's hash counts only for a key whose record has no id (it loses
        // its entry for a key whose id is created again, but may still hold one).
        let creation = creation.or(legacy_creation);
        let mut entries: Vec<AuditEntry> = history
            .iter()
            .filter_map(|item| decode_history_item(&id_text, item))
            .collect();
        entries.extend(
            legacy
                .into_iter()
                .map(|(id, fields)| decode_entry(id, fields)),
        );
        // The record keeps the id after the history copied the entry (the copy outlives the log's).
        if let Some(creation) = creation.filter(|id| entries.iter().all(|e| &e.id != id)) {
            entries.push(self.creation_entry(key_id, creation).await?);
        }
        entries.sort_by_key(|entry| std::cmp::Reverse(entry_order(&entry.id)));
        entries.dedup_by(|a, b| a.id == b.id);
        let older_than = query.before.as_deref().map(entry_order);
        let found: Vec<AuditEntry> = entries
            .into_iter()
            .filter(|entry| older_than.is_none_or(|before| entry_order(&entry.id) < before))
            .filter(|entry| query.wants(entry))
            .take(query.limit)
            .collect();
        let next = (found.len() == query.limit)
            .then(|| found.last().map(|e| e.id.clone()))
            .flatten();
        Ok((found, next))
    }

    /// A key's creation entry from the log; once the log has dropped it, what the key's
    /// record still says (who made it; the entry id says when).
    async fn creation_entry(&self, key_id: KeyId, entry_id: String) -> StoreResult<AuditEntry> {
        let mut conn = self.conn();
        let range = entry_id.clone();
        let found: Vec<(String, HashMap<String, String>)> = self
            .bounded(async move {
                redis::cmd("XRANGE")
                    .arg(names::AUDIT_LOG)
                    .arg(&range)
                    .arg(&range)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        if let Some((id, fields)) = found.into_iter().next() {
            return Ok(decode_entry(id, fields));
        }
        let mut conn = self.conn();
        let record = KeyNames::new(key_id).record();
        let created_by: Option<String> = self
            .bounded(async move { conn.hget(record, "createdBy").await })
            .await?;
        let mut fields = HashMap::from([("action".to_string(), "create".to_string())]);
        fields.insert("actor".into(), created_by.unwrap_or_default());
        fields.insert("keyId".into(), key_id.to_string());
        Ok(decode_entry(entry_id, fields))
    }
}

/// `append_audit.lua` with its keys and every argument before the entry's fields.
fn audit_invocation(
    key_id: Option<KeyId>,
    creates_key: bool,
    creation: Option<String>,
    limits: AuditLimits,
    now: DateTime<Utc>,
) -> redis::ScriptInvocation<'static> {
    let mut invocation = APPEND.key(names::AUDIT_LOG);
    let key_id = key_id.map(|id| id.to_string());
    if let Some(id) = &key_id {
        invocation
            .key(names::audit_history(id))
            .key(names::LEGACY_AUDIT_CREATIONS);
    }
    let oldest_kept = (now - limits.retention).timestamp_millis().max(0);
    invocation
        .arg(limits.max_entries)
        .arg(format!("{oldest_kept}-0"))
        .arg(MAX_ENTRIES_PER_KEY)
        .arg(limits.retention.num_milliseconds().max(1))
        .arg(key_id.unwrap_or_default())
        .arg(if creates_key { "1" } else { "0" })
        .arg(creation.unwrap_or_default());
    invocation
}

/// A stream entry as read: its id and fields.
type StreamEntry = (String, HashMap<String, String>);

/// An entry id (`<ms>-<seq>`) as a number pair, for ordering.
fn entry_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// An item of a key's history list: `id \t actor \t actorIp \t action \t changes`.
fn decode_history_item(key_id: &str, item: &str) -> Option<AuditEntry> {
    let mut parts = item.splitn(5, '\t');
    let id = parts.next()?.to_string();
    let mut fields = HashMap::new();
    for name in ["actor", "actorIp", "action", "changes"] {
        let value = parts.next().unwrap_or_default();
        if !value.is_empty() {
            fields.insert(name.to_string(), value.to_string());
        }
    }
    fields.insert("keyId".to_string(), key_id.to_string());
    Some(decode_entry(id, fields))
}

fn decode_entry(id: String, mut fields: HashMap<String, String>) -> AuditEntry {
    let at_ms = id
        .split_once('-')
        .and_then(|(ms, _)| ms.parse::<i64>().ok())
        .unwrap_or(0);
    let changes: Changes = fields
        .get("changes")
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    AuditEntry {
        at: DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
        actor: fields.remove("actor").unwrap_or_default(),
        actor_ip: fields.remove("actorIp"),
        action: fields.remove("action").unwrap_or_default(),
        key_id: fields.remove("keyId"),
        changes,
        id,
    }
}
