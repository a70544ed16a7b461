//! The key list, served from an in-process index (`domain::listing_index`): loaded from Redis
//! in small steps, then kept current from the `{idx}` change stream, which every index write
//! appends to in the same script. Before each list the index reads the changes it has not
//! applied yet (one short `XRANGE`), so a list shows every write answered before it, made on
//! any instance; a background task keeps that read small. An instance that fell behind the
//! stream's cap (a sequence gap) loads again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{Mutex, Semaphore};

use crate::domain::ids::KeyId;
use crate::domain::listing::ListQuery;
use crate::domain::listing_index::ListingIndex;
use crate::service::{ServiceError, ServiceResult};
use crate::store::{Store, StoreResult, CHANGES_STEP};

/// How often the background task reads new changes.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(250);

pub(super) struct Listing {
    index: Arc<RwLock<ListingIndex>>,
    /// The last change applied; `None` until loaded. Held by the one task updating the index.
    position: Mutex<Option<u64>>,
    /// A full load is running: lists answer from the index as it is instead of waiting.
    reloading: AtomicBool,
    /// Queries run off the async workers, one at a time, so a loop of dashboard searches takes
    /// at most one core from the relay path.
    queries: Arc<Semaphore>,
}

fn read(index: &RwLock<ListingIndex>) -> RwLockReadGuard<'_, ListingIndex> {
    // A panic under the lock leaves a whole index (each change is applied whole or not).
    index
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

impl Listing {
    pub(super) fn new() -> Listing {
        Listing {
            index: Arc::new(RwLock::new(ListingIndex::new())),
            position: Mutex::new(None),
            reloading: AtomicBool::new(false),
            queries: Arc::new(Semaphore::new(1)),
        }
    }

    /// Applies every change not applied yet (loading first if needed).
    pub(super) async fn catch_up(&self, store: &Store, today: NaiveDate) -> StoreResult<()> {
        if self.reloading.load(Ordering::Acquire) && self.is_loaded() {
            return Ok(());
        }
        let mut position = self.position.lock().await;
        loop {
            let Some(after) = *position else {
                self.reloading.store(true, Ordering::Release);
                let loaded = self.load(store, today).await;
                self.reloading.store(false, Ordering::Release);
                *position = Some(loaded?);
                continue;
            };
            let batch = store.listing_changes(after).await?;
            if batch.first_sequence.is_some_and(|first| first != after + 1) {
                tracing::warn!(
                    after,
                    "the listing index fell behind the change stream; loading it again"
                );
                *position = None;
                continue;
            }
            let Some(&(last, _)) = batch.changes.last() else {
                return Ok(());
            };
            let read_all = batch.changes.len() < CHANGES_STEP;
            {
                let mut index = self
                    .index
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for (_, change) in batch.changes {
                    index.apply(change);
                }
            }
            *position = Some(last);
            if read_all {
                return Ok(());
            }
        }
    }

    fn is_loaded(&self) -> bool {
        !read(&self.index).is_empty()
    }

    /// Builds the index from the `{idx}` indexes in steps; returns the stream position it
    /// replays from (changes made during the load are applied after it, in order).
    async fn load(&self, store: &Store, today: NaiveDate) -> StoreResult<u64> {
        let started = std::time::Instant::now();
        let head = store.listing_changes_head().await?;
        let day = day_text(today);
        let mut fresh = ListingIndex::new();
        let mut cursor = 0;
        loop {
            let step = store.listing_load_step(cursor, today).await?;
            for (key, cost) in step.keys.into_iter().zip(step.costs) {
                let (id, used) = (key.id, key.last_used_at_ms);
                fresh.upsert(key);
                if cost > 0 {
                    fresh.record_usage(id, used, &day, cost);
                }
            }
            cursor = step.next_cursor;
            if cursor == 0 {
                break;
            }
        }
        let keys = fresh.len();
        *self
            .index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        tracing::info!(
            keys,
            ms = started.elapsed().as_millis() as u64,
            "listing index loaded"
        );
        Ok(head)
    }

    /// Runs `f` over the index on a blocking thread, one query at a time.
    async fn query<T, F>(&self, f: F) -> ServiceResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&ListingIndex) -> T + Send + 'static,
    {
        let _permit = self
            .queries
            .acquire()
            .await
            .map_err(|e| ServiceError::internal("the listing query gate closed", e))?;
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || f(&read(&index)))
            .await
            .map_err(|e| ServiceError::internal("a listing query failed", e))
    }

    pub(super) async fn list(
        &self,
        store: &Store,
        query: &ListQuery,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> ServiceResult<(u64, Vec<KeyId>)> {
        self.catch_up(store, today).await?;
        let query = query.clone();
        let day = day_text(today);
        let now_ms = now.timestamp_millis();
        self.query(move |index| index.list(&query, now_ms, &day))
            .await
    }

    pub(super) async fn expired_active(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> ServiceResult<Vec<KeyId>> {
        self.catch_up(store, today).await?;
        let now_ms = now.timestamp_millis();
        self.query(move |index| index.expired_active(now_ms)).await
    }

    pub(super) async fn tags(
        &self,
        store: &Store,
        today: NaiveDate,
    ) -> ServiceResult<Vec<(String, u64)>> {
        self.catch_up(store, today).await?;
        self.query(|index| index.tags()).await
    }
}
