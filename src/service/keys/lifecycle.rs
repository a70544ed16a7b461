//! A key's life after creation: soft delete, restore, erase, new secrets with a grace period,
//! and finding a key by its secret.

use chrono::{DateTime, TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt};

use super::KeyService;
use crate::domain::ids::KeyId;
use crate::domain::key::KeySnapshot;
use crate::domain::key_fields::KeyChanges;
use crate::domain::secret::{generate_key, has_key_format, key_hash, key_hint};
use crate::domain::FieldError;
use crate::service::{ServiceError, ServiceResult};

/// The longest an old secret may keep verifying after a regenerate: a week.
pub const MAX_GRACE_SECS: u64 = 604_800;

impl KeyService {
    /// Soft delete: the key stops verifying at once on every instance, keeps its record and
    /// usage, and is listed only as deleted. `false` when it does not exist or is deleted.
    pub async fn delete(&self, id: KeyId, deleted_by: &str) -> ServiceResult<bool> {
        let now = Utc::now();
        let deleted = self
            .inner
            .store
            .soft_delete_key(id, deleted_by, now, self.today(now))
            .await?;
        if deleted {
            self.inner.records.remove(&id);
            tracing::info!(key_id = %id, deleted_by, "key deleted");
        }
        Ok(deleted)
    }

    /// Brings back a deleted key; `None` when the key is not deleted (or does not exist).
    pub async fn restore(&self, id: KeyId) -> ServiceResult<Option<KeySnapshot>> {
        if !self.inner.store.restore_key(id, Utc::now()).await? {
            return Ok(None);
        }
        tracing::info!(key_id = %id, "key restored");
        self.get(id).await
    }

    /// Erases a key and its usage for good (deleted or not).
    pub async fn erase(&self, id: KeyId) -> ServiceResult<bool> {
        let now = Utc::now();
        let erased = self
            .inner
            .store
            .delete_key(id, self.inner.audit, now, self.today(now))
            .await?;
        if erased {
            self.inner.known_ids.remove(&id);
            self.inner.records.remove(&id);
            tracing::info!(key_id = %id, "key erased");
        }
        Ok(erased)
    }

    /// Erases the keys deleted more than `retention` before `now`; returns how many.
    pub async fn erase_deleted(
        &self,
        now: DateTime<Utc>,
        retention: TimeDelta,
    ) -> ServiceResult<usize> {
        const STEP: usize = 500;
        let mut erased = 0;
        loop {
            let due = self
                .inner
                .store
                .deleted_before(now - retention, STEP)
                .await?;
            let mut erased_now = 0;
            for id in &due {
                if self.erase(*id).await? {
                    erased_now += 1;
                }
            }
            erased += erased_now;
            // A short step was the last; a step that erased nothing would repeat itself.
            if due.len() < STEP || erased_now == 0 {
                return Ok(erased);
            }
        }
    }

    /// A new secret for the key, which keeps its id, limits and usage; the old secret keeps
    /// verifying for `grace_secs`. Returns the key and its new secret (shown this once), or
    /// `None` when the key does not exist or is deleted.
    pub async fn regenerate(
        &self,
        id: KeyId,
        grace_secs: u64,
    ) -> ServiceResult<Option<(KeySnapshot, String)>> {
        if grace_secs > MAX_GRACE_SECS {
            return Err(FieldError::new(
                "graceSeconds",
                format!("must be between 0 and {MAX_GRACE_SECS}"),
            )
            .into());
        }
        let now = Utc::now();
        let secret = generate_key(&self.inner.key_prefix);
        let secret_hash = key_hash(&secret, &self.inner.encryption_key);
        let hint = key_hint(&self.inner.key_prefix, &secret);
        let old_valid_until = (grace_secs > 0).then(|| now + TimeDelta::seconds(grace_secs as i64));
        if !self
            .inner
            .store
            .regenerate_key(id, &secret_hash, &hint, old_valid_until, now)
            .await?
        {
            return Ok(None);
        }
        tracing::info!(key_id = %id, grace_secs, "key secret regenerated");
        let snapshot = self.get(id).await?.ok_or(ServiceError::Internal {
            what: "the key vanished right after its secret was regenerated",
            source: None,
        })?;
        Ok(Some((snapshot, secret)))
    }

    /// Whether `text` looks like one of this installation's keys (then a search is by hash).
    pub fn is_whole_key(&self, text: &str) -> bool {
        has_key_format(&self.inner.key_prefix, text)
    }

    /// The key a whole secret belongs to (deleted or not), found by its hash.
    pub async fn find_by_secret(&self, secret: &str) -> ServiceResult<Option<KeySnapshot>> {
        if !self.is_whole_key(secret) {
            return Ok(None);
        }
        let secret_hash = key_hash(secret, &self.inner.encryption_key);
        match self.inner.store.lookup_secret(&secret_hash).await? {
            Some(id) => self.get(id).await,
            None => Ok(None),
        }
    }

    /// One page of deleted keys, most recently deleted first, and how many there are.
    pub async fn list_deleted(
        &self,
        offset: u64,
        count: u64,
    ) -> ServiceResult<(u64, Vec<KeySnapshot>)> {
        let (total, ids) = self.inner.store.deleted_key_ids(offset, count).await?;
        Ok((total, self.snapshots(&ids).await?))
    }
}

/// Most keys one batch creates, changes or deletes.
pub const MAX_BATCH: usize = 500;

/// Why one key of a batch change was not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMiss {
    NotFound,
    /// The changes break a rule for this key as it is (e.g. a limit pair).
    InvalidInput,
}

impl BatchMiss {
    pub fn code(self) -> &'static str {
        match self {
            BatchMiss::NotFound => "not_found",
            BatchMiss::InvalidInput => "invalid_input",
        }
    }
}

/// How many keys of one batch are written at once. Their writes share the multiplexed
/// connection's round trips, so this many keep it busy; each write's future is ~15 KB, and
/// running all 500 of a batch at once made four batches in flight add ~30 MB to keyward's peak
/// memory (massif of a seeding run).
pub const BATCH_IN_FLIGHT: usize = 64;

impl KeyService {
    /// Creates `count` keys with the same fields, named `prefix-001`, `prefix-002`, ... Their
    /// writes go out `BATCH_IN_FLIGHT` at a time on the multiplexed connection. Returns each
    /// key with its secret, in name order.
    pub async fn create_batch(
        &self,
        changes: &KeyChanges,
        name_prefix: &str,
        count: usize,
        created_by: &str,
    ) -> ServiceResult<Vec<(KeySnapshot, String)>> {
        let creates = (1..=count).map(|n| {
            let changes = KeyChanges {
                name: Some(batch_name(name_prefix, n)),
                ..changes.clone()
            };
            self.create(changes, created_by)
        });
        futures::stream::iter(creates)
            .buffered(BATCH_IN_FLIGHT)
            .try_collect()
            .await
    }

    /// Applies the same changes to each key; returns how many changed and the misses.
    pub async fn update_batch(
        &self,
        ids: &[KeyId],
        changes: &KeyChanges,
    ) -> ServiceResult<(usize, Vec<(KeyId, BatchMiss)>)> {
        // In chunks rather than a buffered stream: the borrowed `changes` in each future
        // does not satisfy the stream's lifetime bounds (rustc's "not general enough").
        let mut outcomes = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_IN_FLIGHT) {
            let updates = chunk.iter().map(|id| async move {
                match self.update(*id, changes).await {
                    Ok(true) => Ok((*id, None)),
                    Ok(false) => Ok((*id, Some(BatchMiss::NotFound))),
                    Err(ServiceError::Invalid(_)) => Ok((*id, Some(BatchMiss::InvalidInput))),
                    Err(other) => Err(other),
                }
            });
            outcomes.extend(futures::future::try_join_all(updates).await?);
        }
        let updated = outcomes.iter().filter(|(_, miss)| miss.is_none()).count();
        let misses = outcomes
            .into_iter()
            .filter_map(|(id, miss)| miss.map(|m| (id, m)))
            .collect();
        Ok((updated, misses))
    }

    /// Soft-deletes each key; returns the ids this call deleted.
    pub async fn delete_batch(&self, ids: &[KeyId], deleted_by: &str) -> ServiceResult<Vec<KeyId>> {
        // In chunks, as `update_batch` is.
        let mut deleted = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_IN_FLIGHT) {
            let deletes = chunk.iter().map(|id| async move {
                Ok::<_, ServiceError>(self.delete(*id, deleted_by).await?.then_some(*id))
            });
            deleted.extend(futures::future::try_join_all(deletes).await?);
        }
        Ok(deleted.into_iter().flatten().collect())
    }
}

/// `team-001`: three digits at least, so names sort in creation order.
pub fn batch_name(prefix: &str, n: usize) -> String {
    format!("{prefix}-{n:03}")
}
