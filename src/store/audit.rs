//! The audit log in Redis: a capped stream per installation with a retention, and a capped
//! stream per key (same entry ids) that expires some time after the key's last entry.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, Utc};
use redis::Script;

use super::names;
use super::{Store, StoreResult};
use crate::domain::audit::{AuditEntry, AuditQuery, Changes, NewAuditEntry};

static APPEND: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/append_audit.lua")));

/// Entries one read takes from a stream while filtering.
const READ_CHUNK: usize = 500;
/// Most entries one query looks at, so a filter that matches little cannot scan the whole log.
const MAX_SCANNED: usize = 20_000;
/// Most entries one key's stream keeps.
const MAX_ENTRIES_PER_KEY: usize = 1_000;

/// How much of the log is kept.
#[derive(Debug, Clone, Copy)]
pub struct AuditLimits {
    pub max_entries: u64,
    pub retention: TimeDelta,
}

impl Store {
    pub async fn append_audit(
        &self,
        entry: &NewAuditEntry<'_>,
        limits: AuditLimits,
        now: DateTime<Utc>,
    ) -> StoreResult<String> {
        let mut invocation = APPEND.key(names::AUDIT_LOG);
        let key_id = entry.key_id.map(|id| id.to_string());
        if let Some(id) = &key_id {
            invocation.key(names::audit_of_key(id));
        }
        let oldest_kept = (now - limits.retention).timestamp_millis().max(0);
        invocation
            .arg(limits.max_entries)
            .arg(format!("{oldest_kept}-0"))
            .arg(MAX_ENTRIES_PER_KEY)
            .arg(limits.retention.num_milliseconds().max(1))
            .arg("actor")
            .arg(&entry.actor.name)
            .arg("action")
            .arg(entry.action)
            .arg("changes")
            .arg(serde_json::to_string(&entry.changes).unwrap_or_else(|_| "{}".into()));
        if let Some(address) = entry.actor.address {
            invocation.arg("actorIp").arg(address.to_string());
        }
        if let Some(id) = &key_id {
            invocation.arg("keyId").arg(id);
        }
        let mut conn = self.conn();
        self.bounded(async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    /// Entries newest first that match the query; the second value is the id to continue
    /// from when there may be more (the page is full, or the scan stopped at its bound).
    pub async fn audit_entries(
        &self,
        query: &AuditQuery,
    ) -> StoreResult<(Vec<AuditEntry>, Option<String>)> {
        let stream = match query.key_id {
            Some(id) => names::audit_of_key(&id.to_string()),
            None => names::AUDIT_LOG.to_string(),
        };
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
                .arg(&stream)
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
                let wanted = query.actor.as_ref().is_none_or(|a| *a == entry.actor)
                    && query.action.as_ref().is_none_or(|a| *a == entry.action);
                if wanted {
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
