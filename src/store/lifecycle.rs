//! A key's life after creation: soft delete and restore, a new secret with a grace period for
//! the old one, and the deleted keys' index.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use redis::{AsyncCommands, Script, Value};

use super::keys::IndexRow;
use super::names::{self, index, KeyNames};
use super::{decode, Store, StoreResult};
use crate::domain::ids::KeyId;

struct LifecycleScripts {
    soft_delete: Script,
    restore: Script,
    regenerate: Script,
}

static SCRIPTS: LazyLock<LifecycleScripts> = LazyLock::new(|| LifecycleScripts {
    soft_delete: Script::new(include_str!("scripts/soft_delete.lua")),
    restore: Script::new(include_str!("scripts/restore_key.lua")),
    regenerate: Script::new(include_str!("scripts/regenerate_key.lua")),
});

/// What `restore_key.lua` returns.
struct Restored {
    row: IndexRow,
    secret_hash: String,
    previous_hash: String,
    /// Milliseconds, or empty.
    previous_valid_until: String,
}

impl redis::FromRedisValue for Restored {
    fn from_redis_value_ref(value: &Value) -> Result<Restored, redis::ParsingError> {
        let (row, secret_hash, previous_hash, previous_valid_until): (
            IndexRow,
            String,
            String,
            String,
        ) = redis::from_redis_value_ref(value)?;
        Ok(Restored {
            row,
            secret_hash,
            previous_hash,
            previous_valid_until,
        })
    }

    fn from_redis_value(value: Value) -> Result<Restored, redis::ParsingError> {
        Self::from_redis_value_ref(&value)
    }
}

impl Store {
    /// Marks a key deleted: it stops verifying at once (the verify script refuses a deleted
    /// record, whatever an instance's secret cache holds), its secret lookups go, and it moves
    /// from the listing indexes to the deleted index. Its record and usage stay. `false` when
    /// the key does not exist or is already deleted.
    pub async fn soft_delete_key(
        &self,
        id: KeyId,
        deleted_by: &str,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> StoreResult<bool> {
        let mut invocation = SCRIPTS.soft_delete.key(KeyNames::new(id).record());
        invocation.arg(now.timestamp_millis()).arg(deleted_by);
        let mut conn = self.conn();
        let reply: Value = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        let Some((secret_hash, previous_hash, revision)) =
            decode::<Option<(String, String, String)>>("soft_delete.lua", &reply)?
        else {
            return Ok(false);
        };
        self.drop_secret_lookups(&[secret_hash, previous_hash])
            .await?;
        self.list_as_deleted(id, now, &revision, today).await?;
        Ok(true)
    }

    /// Moves a deleted key's index entries from the listing indexes to the deleted index
    /// (deleted at `deleted_at`, its record now at `revision`).
    pub(super) async fn list_as_deleted(
        &self,
        id: KeyId,
        deleted_at: DateTime<Utc>,
        revision: &str,
        today: NaiveDate,
    ) -> StoreResult<()> {
        let mut invocation = super::SCRIPTS.index_remove.prepare_invoke();
        for index in index::PER_KEY {
            invocation.key(index);
        }
        invocation
            .key(index::cost_on(today))
            .key(index::DELETED)
            .arg(id.to_string())
            .arg(index::ACCOUNT_KEYS_PREFIX)
            .arg("soft")
            .arg(index::CHANGES_CAP)
            .arg(deleted_at.timestamp_millis())
            .arg(revision);
        let mut conn = self.conn();
        self.bounded(async move { invocation.invoke_async::<i64>(&mut conn).await })
            .await?;
        Ok(())
    }

    /// Brings a deleted key back with its limits and usage; its secret (and an old secret
    /// still in its grace period) verifies again. `false` when the key is not deleted.
    pub async fn restore_key(&self, id: KeyId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut invocation = SCRIPTS.restore.key(KeyNames::new(id).record());
        invocation.arg(now.timestamp_millis());
        let mut conn = self.conn();
        let reply: Value = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        let Some(restored) = decode::<Option<Restored>>("restore_key.lua", &reply)? else {
            return Ok(false);
        };
        // Listed again before it verifies again, as on create.
        self.sync_index(id, restored.row).await?;
        self.forget_deleted(id).await?;
        self.set_secret_lookup(&restored.secret_hash, id, None)
            .await?;
        let previous_until = restored
            .previous_valid_until
            .parse::<i64>()
            .ok()
            .filter(|until| *until > now.timestamp_millis());
        if let (false, Some(until)) = (restored.previous_hash.is_empty(), previous_until) {
            self.set_secret_lookup(&restored.previous_hash, id, Some(until))
                .await?;
        }
        Ok(true)
    }

    /// Gives a key a new secret. The old one keeps verifying until `old_valid_until` (not at
    /// all with `None`): the record says until when, and the verify script checks it, so an
    /// instance that cached the old secret refuses it after that too; its lookup expires then.
    /// `false` when the key does not exist or is deleted.
    pub async fn regenerate_key(
        &self,
        id: KeyId,
        new_hash: &str,
        new_hint: &str,
        old_valid_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let until_ms = old_valid_until.map_or(0, |t| t.timestamp_millis());
        let mut invocation = SCRIPTS.regenerate.key(KeyNames::new(id).record());
        invocation
            .arg(new_hash)
            .arg(now.timestamp_millis())
            .arg(until_ms)
            .arg(new_hint);
        let mut conn = self.conn();
        let reply: Value = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        let Some((old_hash, displaced_hash)) =
            decode::<Option<(String, String)>>("regenerate_key.lua", &reply)?
        else {
            return Ok(false);
        };
        self.set_secret_lookup(new_hash, id, None).await?;
        if until_ms > 0 {
            self.set_secret_lookup(&old_hash, id, Some(until_ms))
                .await?;
        } else {
            self.drop_secret_lookups(std::slice::from_ref(&old_hash))
                .await?;
        }
        if displaced_hash != old_hash && displaced_hash != new_hash {
            self.drop_secret_lookups(&[displaced_hash]).await?;
        }
        Ok(true)
    }

    /// Deleted keys, most recently deleted first: the number of them and one page of ids.
    pub async fn deleted_key_ids(&self, offset: u64, count: u64) -> StoreResult<(u64, Vec<KeyId>)> {
        if count == 0 {
            return Ok((0, Vec::new()));
        }
        let mut pipe = redis::pipe();
        pipe.zcard(index::DELETED).zrevrange(
            index::DELETED,
            offset as isize,
            (offset + count - 1) as isize,
        );
        let mut conn = self.conn();
        let (total, ids): (u64, Vec<String>) = self
            .bounded(async move { pipe.query_async(&mut conn).await })
            .await?;
        Ok((total, ids.iter().filter_map(|s| KeyId::parse(s)).collect()))
    }

    /// Up to `limit` keys deleted before `cutoff`, longest deleted first, for the erase job
    /// (which erases them and asks again, so no read walks every deleted key).
    pub async fn deleted_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<KeyId>> {
        let mut conn = self.conn();
        let ids: Vec<String> = self
            .bounded(async move {
                conn.zrangebyscore_limit(
                    index::DELETED,
                    "-inf",
                    format!("({}", cutoff.timestamp_millis()),
                    0,
                    limit as isize,
                )
                .await
            })
            .await?;
        Ok(ids.iter().filter_map(|s| KeyId::parse(s)).collect())
    }

    pub(super) async fn forget_deleted(&self, id: KeyId) -> StoreResult<()> {
        let mut conn = self.conn();
        let id = id.to_string();
        self.bounded(async move { conn.zrem::<_, _, i64>(index::DELETED, id).await })
            .await?;
        Ok(())
    }

    /// Each lookup stands alone in its own slot, so one `DEL` per hash (empty ones skipped).
    pub(super) async fn drop_secret_lookups(&self, secret_hashes: &[String]) -> StoreResult<()> {
        let deletes = secret_hashes
            .iter()
            .filter(|hash| !hash.is_empty())
            .map(|hash| {
                let mut conn = self.conn();
                let lookup = names::secret_lookup(hash);
                async move { conn.del::<_, i64>(lookup).await }
            });
        self.bounded(futures::future::try_join_all(deletes)).await?;
        Ok(())
    }

    /// Points a secret hash at a key, until `expires_at_ms` when given.
    pub(super) async fn set_secret_lookup(
        &self,
        secret_hash: &str,
        id: KeyId,
        expires_at_ms: Option<i64>,
    ) -> StoreResult<()> {
        let mut command = redis::cmd("SET");
        command
            .arg(names::secret_lookup(secret_hash))
            .arg(id.to_string());
        if let Some(at) = expires_at_ms {
            command.arg("PXAT").arg(at);
        }
        let mut conn = self.conn();
        self.bounded(async move { command.query_async::<()>(&mut conn).await })
            .await?;
        Ok(())
    }
}
