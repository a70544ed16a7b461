//! Key records and their indexes: create, update, delete, read, list.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use redis::{AsyncCommands, Value};

use super::audit::AuditLimits;
use super::names::{self, index, KeyNames};
use super::records::{decode_key, encode_changes, CREATION_AUDIT_ID};
use super::{decode, Store, StoreError, StoreResult, SCRIPTS};
use crate::domain::ids::KeyId;
use crate::domain::key::ApiKey;
use crate::domain::key_fields::{KeyChanges, ACCOUNT_COUNT};

/// What `write_key.lua` and `disable_if_expired.lua` return of a key for its index entries
/// (absent fields are empty).
pub(super) struct IndexRow {
    revision: String,
    name: String,
    /// A JSON list.
    tags: String,
    /// `1` when active.
    is_active: String,
    /// Milliseconds, or empty without an expiry.
    expires_at: String,
    created_at: String,
    last_used_at: String,
    /// The bound upstream accounts, in the order of `ACCOUNT_FIELDS`.
    accounts: [String; ACCOUNT_COUNT],
}

impl redis::FromRedisValue for IndexRow {
    fn from_redis_value_ref(value: &Value) -> Result<IndexRow, redis::ParsingError> {
        // The scripts' HMGET: rev, name, tags, isActive, expiresAt, createdAt, lastUsedAt, then
        // the seven account fields.
        let [revision, name, tags, is_active, expires_at, created_at, last_used_at, a0, a1, a2, a3, a4, a5, a6]: [Option<String>; 14] =
            redis::from_redis_value_ref(value)?;
        let text = Option::unwrap_or_default;
        Ok(IndexRow {
            revision: text(revision),
            name: text(name),
            tags: text(tags),
            is_active: text(is_active),
            expires_at: text(expires_at),
            created_at: text(created_at),
            last_used_at: text(last_used_at),
            accounts: [a0, a1, a2, a3, a4, a5, a6].map(text),
        })
    }

    fn from_redis_value(value: Value) -> Result<IndexRow, redis::ParsingError> {
        Self::from_redis_value_ref(&value)
    }
}

/// How an extend moves a key's expiry.
#[derive(Debug, Clone, Copy)]
pub enum Extension {
    /// By this long from the later of now and the current expiry.
    By(chrono::Duration),
    /// To this instant.
    Until(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtendOutcome {
    Extended,
    NotFound,
    /// An activation-mode key whose clock has not started: nothing to extend yet.
    NotActivated,
}

impl Store {
    pub async fn lookup_secret(&self, secret_hash: &str) -> StoreResult<Option<KeyId>> {
        let mut conn = self.conn();
        let id: Option<String> = self
            .bounded(async move { conn.get(names::secret_lookup(secret_hash)).await })
            .await?;
        Ok(id.as_deref().and_then(KeyId::parse))
    }

    /// A key's stored fields (no live values); `None` when it does not exist.
    pub async fn key(&self, id: KeyId) -> StoreResult<Option<ApiKey>> {
        let mut conn = self.conn();
        let record = KeyNames::new(id).record();
        let fields: HashMap<String, String> = self
            .bounded(async move { conn.hgetall(record).await })
            .await?;
        Ok(decode_key(id, &fields))
    }

    /// Writes a new key; its secret lookup is written last, so the key answers verifies only
    /// once its record and indexes exist. Returns the key as written (nothing else knows its
    /// id yet, so the record holds exactly these fields), so creating needs no read back.
    pub async fn create_key(
        &self,
        id: KeyId,
        secret_hash: &str,
        key_hint: &str,
        created_by: &str,
        changes: &KeyChanges,
        now: DateTime<Utc>,
    ) -> StoreResult<ApiKey> {
        let (mut set, delete) = encode_changes(changes);
        set.push(("hash", secret_hash.to_string()));
        set.push(("keyHint", key_hint.to_string()));
        set.push(("createdBy", created_by.to_string()));
        let mut written: HashMap<String, String> = set
            .iter()
            .map(|(field, value)| (field.to_string(), value.clone()))
            .collect();
        if let Some(row) = self.write_key(id, "create", set, delete, now).await? {
            self.sync_index(id, row).await?;
        }
        let mut conn = self.conn();
        let lookup = names::secret_lookup(secret_hash);
        let id_text = id.to_string();
        self.bounded(async move { conn.set_nx::<_, _, bool>(lookup, id_text).await })
            .await?;
        written.insert("createdAt".into(), now.timestamp_millis().to_string());
        decode_key(id, &written).ok_or_else(|| {
            StoreError::unexpected("create_key", "the new record does not read back")
        })
    }

    /// Applies only the fields in `changes`; `false` when the key does not exist.
    pub async fn update_key(
        &self,
        id: KeyId,
        changes: &KeyChanges,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (set, delete) = encode_changes(changes);
        match self.write_key(id, "update", set, delete, now).await? {
            Some(row) => {
                self.sync_index(id, row).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn write_key(
        &self,
        id: KeyId,
        mode: &str,
        set: Vec<(&'static str, String)>,
        delete: Vec<&'static str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<IndexRow>> {
        let mut invocation = SCRIPTS.write_key.key(KeyNames::new(id).record());
        invocation
            .arg(mode)
            .arg(now.timestamp_millis())
            .arg(set.len());
        for (field, value) in &set {
            invocation.arg(*field).arg(value);
        }
        for field in &delete {
            invocation.arg(*field);
        }
        let mut conn = self.conn();
        let reply: Value = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        decode("write_key.lua", &reply)
    }

    /// Extends a key's expiry by `add` from the later of now and its current expiry, or sets it
    /// to `until`; with `enable` also re-enables it.
    pub async fn extend_key(
        &self,
        id: KeyId,
        extension: Extension,
        enable: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<ExtendOutcome> {
        let mut invocation = SCRIPTS.extend_key.key(KeyNames::new(id).record());
        let (add, until) = match extension {
            Extension::By(add) => (add.num_milliseconds().to_string(), String::new()),
            Extension::Until(at) => (String::new(), at.timestamp_millis().to_string()),
        };
        invocation
            .arg(now.timestamp_millis())
            .arg(add)
            .arg(until)
            .arg(if enable { "1" } else { "0" });
        let mut conn = self.conn();
        let reply: Value = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        match reply {
            Value::Nil | Value::Boolean(false) => Ok(ExtendOutcome::NotFound),
            Value::SimpleString(ref text) if text == "not_activated" => {
                Ok(ExtendOutcome::NotActivated)
            }
            Value::BulkString(ref bytes) if bytes.as_slice() == b"not_activated" => {
                Ok(ExtendOutcome::NotActivated)
            }
            other => {
                let row: IndexRow = decode("extend_key.lua", &other)?;
                self.sync_index(id, row).await?;
                Ok(ExtendOutcome::Extended)
            }
        }
    }

    /// The key's live leases: (lease id, expiry), soonest expiry first.
    pub async fn leases(
        &self,
        id: KeyId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
        let mut conn = self.conn();
        let set = KeyNames::new(id).leases();
        let floor = format!("({}", now.timestamp_millis());
        let live: Vec<(String, i64)> = self
            .bounded(async move { conn.zrangebyscore_withscores(set, floor, "+inf").await })
            .await?;
        Ok(live
            .into_iter()
            .filter_map(|(lease, ms)| DateTime::from_timestamp_millis(ms).map(|at| (lease, at)))
            .collect())
    }

    /// Brings the indexes up to the key's record (after a verify changed its expiry).
    pub async fn reindex_key(&self, id: KeyId) -> StoreResult<()> {
        let mut conn = self.conn();
        let record = KeyNames::new(id).record();
        let row: IndexRow = self
            .bounded(async move {
                redis::cmd("HMGET")
                    .arg(record)
                    .arg(&[
                        "rev",
                        "name",
                        "tags",
                        "isActive",
                        "expiresAt",
                        "createdAt",
                        "lastUsedAt",
                        "claudeAccountId",
                        "claudeConsoleAccountId",
                        "geminiAccountId",
                        "openaiAccountId",
                        "bedrockAccountId",
                        "azureOpenaiAccountId",
                        "droidAccountId",
                    ])
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        if row.name.is_empty() {
            // Deleted meanwhile: nothing to index.
            return Ok(());
        }
        self.sync_index(id, row).await
    }

    /// Writes the index entries of one key from the fields its record returned.
    pub(super) async fn sync_index(&self, id: KeyId, row: IndexRow) -> StoreResult<()> {
        let accounts: Vec<&String> = row.accounts.iter().filter(|a| !a.is_empty()).collect();
        let accounts = serde_json::to_string(&accounts).unwrap_or_else(|_| "[]".into());
        let or = |text: String, empty: &str| {
            if text.is_empty() {
                empty.to_string()
            } else {
                text
            }
        };
        let mut invocation = SCRIPTS.index_upsert.prepare_invoke();
        for index in index::PER_KEY {
            invocation.key(index);
        }
        invocation
            .arg(id.to_string())
            .arg(row.revision)
            .arg(row.name.to_lowercase())
            .arg(or(row.tags, "[]"))
            .arg(row.is_active)
            .arg(row.expires_at)
            .arg(or(row.created_at, "0"))
            .arg(or(row.last_used_at, "0"))
            .arg(accounts)
            .arg(index::ACCOUNT_KEYS_PREFIX)
            .arg(index::CHANGES_CAP);
        let mut conn = self.conn();
        self.bounded(async move { invocation.invoke_async::<i64>(&mut conn).await })
            .await?;
        Ok(())
    }

    /// Deletes the key, everything stored under it, its lookup and its index entries.
    /// The record goes first: once it is gone the key cannot verify, whatever happens next.
    /// The key's audit history keeps its creation entry (`audit` bounds the history).
    pub async fn delete_key(
        &self,
        id: KeyId,
        audit: AuditLimits,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> StoreResult<bool> {
        let key = KeyNames::new(id);
        let mut invocation = SCRIPTS.delete_key.prepare_invoke();
        invocation
            .key(key.record())
            .key(key.leases())
            .key(key.window())
            .key(key.periods())
            .key(key.usage_total())
            .key(key.usage_week())
            .key(key.waiters())
            .key(key.waiter_seq())
            .key(key.request_log())
            .arg(CREATION_AUDIT_ID);
        let mut conn = self.conn();
        let erased: Option<(String, String, String)> = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        let Some((secret_hash, previous_hash, creation)) = erased else {
            return Ok(false);
        };
        // The record held the creation's id; the history keeps a copy from now on. Not
        // keeping it loses a line of history, not the erase: it is logged, not returned.
        let creation = (!creation.is_empty()).then_some(creation);
        if let Err(error) = self
            .keep_creation_in_history(id, creation, audit, now)
            .await
        {
            tracing::warn!(%error, key_id = %id, "the erased key's creation not kept in its history");
        }
        self.drop_secret_lookups(&[secret_hash, previous_hash])
            .await?;
        let mut invocation = SCRIPTS.index_remove.prepare_invoke();
        for index in index::PER_KEY {
            invocation.key(index);
        }
        // One script also drops the key from the deleted index (an erase of a deleted key).
        invocation
            .key(index::cost_on(today))
            .key(index::DELETED)
            .arg(id.to_string())
            .arg(index::ACCOUNT_KEYS_PREFIX)
            .arg("erase")
            .arg(index::CHANGES_CAP)
            .arg(index::REQUEST_MARKERS_PREFIX);
        let mut conn = self.conn();
        self.bounded(async move { invocation.invoke_async::<i64>(&mut conn).await })
            .await?;
        Ok(true)
    }

    /// Disables the key if it is active and expired at `now`; `true` when this call did it.
    pub async fn disable_if_expired(&self, id: KeyId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut invocation = SCRIPTS.disable_if_expired.key(KeyNames::new(id).record());
        invocation.arg(now.timestamp_millis());
        let mut conn = self.conn();
        let reply: Value = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        match decode::<Option<IndexRow>>("disable_if_expired.lua", &reply)? {
            Some(row) => {
                self.sync_index(id, row).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Whether an upstream account was ever bound to a key or reported with usage.
    pub async fn is_known_account(&self, account: &str) -> StoreResult<bool> {
        let mut conn = self.conn();
        let account = account.to_string();
        let score: Option<f64> = self
            .bounded(async move { conn.zscore(index::ACCOUNTS, account).await })
            .await?;
        Ok(score.is_some())
    }

    pub async fn bound_key_count(&self, account: &str) -> StoreResult<u64> {
        let mut conn = self.conn();
        let set = index::account_keys(account);
        self.bounded(async move { conn.scard(set).await }).await
    }

    /// Up to `limit` ids of the keys bound to an upstream account, read with `SSCAN` in small
    /// steps (never the whole set in one command).
    pub async fn keys_bound_to(&self, account: &str, limit: usize) -> StoreResult<Vec<KeyId>> {
        let mut found = Vec::new();
        let mut cursor = 0u64;
        loop {
            let mut conn = self.conn();
            let set = index::account_keys(account);
            let (next, ids): (u64, Vec<String>) = self
                .bounded(async move {
                    redis::cmd("SSCAN")
                        .arg(set)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(100)
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            found.extend(ids.iter().filter_map(|s| KeyId::parse(s)));
            cursor = next;
            if cursor == 0 || found.len() >= limit {
                found.truncate(limit);
                found.sort_by_key(|id| id.to_string());
                found.dedup();
                return Ok(found);
            }
        }
    }
}
