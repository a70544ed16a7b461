//! The key list, served from an in-process index (`domain::listing_index`): loaded from Redis
//! in small steps, then kept current from the `{idx}` change stream, which every index write
//! appends to in the same script. Before each list the index reads the changes it has not
//! applied yet (one short `XRANGE`), so a list shows every write answered before it, made on
//! any instance; a background task keeps that read small. An instance that fell behind the
//! stream's cap (a sequence gap) loads again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{oneshot, Mutex};

use crate::domain::ids::KeyId;
use crate::domain::listing::ListQuery;
use crate::domain::listing_index::{IndexChange, ListingIndex};
use crate::service::{ServiceError, ServiceResult};
use crate::store::{LoadCursor, Store, CHANGES_STEP};

/// How often the background task reads new changes.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// Work for the query thread.
type Job = Box<dyn FnOnce(&mut ListingIndex) + Send>;

pub(super) struct Listing {
    /// The thread that owns the index: every query and every change runs there, one at a
    /// time, so no lock is shared with the async workers (a query never holds up a worker, and
    /// a slow query cannot make a worker wait to apply changes).
    jobs: mpsc::Sender<Job>,
    /// The last change applied; `None` until loaded. Held by the one task updating the index.
    position: Mutex<Option<u64>>,
    /// A load has finished once: lists may answer from the index as it is.
    loaded: AtomicBool,
    /// A full load is running: lists answer from the index as it is instead of waiting.
    reloading: AtomicBool,
}

pub(super) fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// Starts the query thread over an empty index.
fn spawn_query_thread() -> mpsc::Sender<Job> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let started = std::thread::Builder::new()
        .name("keyward-listing".to_string())
        .spawn(move || {
            crate::priority::lower_this_thread("listing query");
            let mut index = ListingIndex::new();
            // Ends when the service (every sender) is gone.
            while let Ok(job) = queue.recv() {
                // A panicking job drops its answer (the caller gets an error); the thread
                // stays for the next one.
                let run = std::panic::AssertUnwindSafe(|| job(&mut index));
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!("a listing query panicked");
                }
            }
        });
    if let Err(error) = started {
        // Every query then answers an internal error, naming the cause.
        tracing::error!(%error, "cannot start the listing query thread");
    }
    jobs
}

impl Listing {
    pub(super) fn new() -> Listing {
        Listing {
            jobs: spawn_query_thread(),
            position: Mutex::new(None),
            loaded: AtomicBool::new(false),
            reloading: AtomicBool::new(false),
        }
    }

    /// Runs `f` over the index on the query thread and waits for its answer.
    async fn run<T, F>(&self, f: F) -> ServiceResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut ListingIndex) -> T + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |index| {
            // The caller may have gone (a dropped request); nothing to tell it then.
            let _ = answer.send(f(index));
        });
        self.jobs.send(job).map_err(|_| ServiceError::Internal {
            what: "the listing query thread is gone",
            source: None,
        })?;
        answered
            .await
            .map_err(|e| ServiceError::internal("a listing query failed", e))
    }

    /// Applies every change not applied yet (loading first if needed).
    pub(super) async fn catch_up(&self, store: &Store, today: NaiveDate) -> ServiceResult<()> {
        if self.reloading.load(Ordering::Acquire) && self.loaded.load(Ordering::Acquire) {
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
            let changes: Vec<IndexChange> = batch.changes.into_iter().map(|(_, c)| c).collect();
            self.run(move |index| changes.into_iter().for_each(|c| index.apply(c)))
                .await?;
            *position = Some(last);
            if read_all {
                return Ok(());
            }
        }
    }

    /// Builds the index from the `{idx}` indexes in steps; returns the stream position it
    /// replays from (changes made during the load are applied after it, in order).
    async fn load(&self, store: &Store, today: NaiveDate) -> ServiceResult<u64> {
        let started = std::time::Instant::now();
        let head = store.listing_changes_head().await?;
        let day = day_text(today);
        let mut fresh = ListingIndex::new();
        let mut cursor = Some(LoadCursor::START);
        while let Some(at) = cursor {
            let step = store.listing_load_step(at, today).await?;
            for (key, cost) in step.keys.into_iter().zip(step.costs) {
                let (id, used) = (key.id, key.last_used_at_ms);
                fresh.upsert(key);
                if cost > 0 {
                    fresh.record_usage(id, used, &day, cost);
                }
            }
            cursor = step.next;
        }
        let keys = fresh.len();
        // The old index is dropped on the query thread too.
        self.run(move |index| *index = fresh).await?;
        self.loaded.store(true, Ordering::Release);
        tracing::info!(
            keys,
            ms = started.elapsed().as_millis() as u64,
            "listing index loaded"
        );
        Ok(head)
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
        self.run(move |index| index.list(&query, now_ms, &day))
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
        self.run(move |index| index.expired_active(now_ms)).await
    }

    pub(super) async fn tags(
        &self,
        store: &Store,
        today: NaiveDate,
    ) -> ServiceResult<Vec<(String, u64)>> {
        self.catch_up(store, today).await?;
        self.run(|index| index.tags()).await
    }
}
