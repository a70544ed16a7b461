//! Keys: create, read, list, update, delete, verify, usage, expiry sweep, account usage.

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use quick_cache::sync::Cache;
use tokio::sync::Notify;

use crate::domain::budgets::{address_hex, local_offset_ms};
use crate::domain::clients::ClientMatcher;
use crate::domain::ids::{KeyId, LeaseId};
use crate::domain::key::DailyModelUsage;
use crate::domain::key::{ApiKey, KeySnapshot, KeyStatus, RateWindow};
use crate::domain::key_fields::KeyChanges;
use crate::domain::listing::ListQuery;
use crate::domain::money::NanoUsd;
use crate::domain::pricing::LivePricing;
use crate::domain::refusal::{Refusal, Refused};
use crate::domain::request_log::{HourlyUsage, RequestLogPage, RequestLogQuery};
use crate::domain::secret::{generate_key, has_key_format, key_hash, key_hint};
use crate::domain::timezone::Zone;
use crate::domain::usage::{UsageRefusal, UsageReport, MAX_COUNTER};
use crate::domain::FieldErrors;
use crate::store::{
    AttemptVerdict, AuditLimits, ExtendOutcome, Extension, RecordCopy, RecordOutcome, RuleInput,
    ScriptRefusal, Store, UsageWrite, Verdict, VerifyRequest,
};

use super::{ServiceError, ServiceResult};

mod audit;
mod import;
mod lifecycle;
mod listing;
pub use lifecycle::{batch_name, BatchMiss, BATCH_IN_FLIGHT, MAX_BATCH, MAX_GRACE_SECS};

/// Secret hash → key id is cached in-process: the steady-state verify is then a single script
/// call. A stale entry (deleted key, or an old secret past its grace) is caught by the script,
/// which compares the stored hash, the old hash's validity and the deleted mark.
const SECRET_CACHE_ENTRIES: usize = 100_000;

/// Most bound keys an account page shows (an account may serve a million keys).
pub const BOUND_KEYS_SHOWN: usize = 200;

/// The outcome of a key holder's lookup (see [`KeyService::lookup_own_key`]).
#[derive(Debug)]
pub enum OwnKeyLookup {
    Found(Box<KeySnapshot>),
    /// Malformed, unknown or removed: one answer for all.
    Refused,
    /// Too many lookups from this address; the minute ends in this many seconds.
    Throttled {
        retry_secs: u64,
    },
}

pub struct VerifyInput<'a> {
    pub key: &'a str,
    pub service: Option<&'a str>,
    pub model: Option<&'a str>,
    pub client: Option<&'a str>,
    /// The caller's client address (`clientIp`), checked against `allowedIps`.
    pub client_ip: Option<std::net::IpAddr>,
    pub acquire: bool,
    /// How long an admission may wait for a concurrency slot (`waitMs`); zero = not at all.
    pub wait: Duration,
}

/// An admitted (or checked) key with what the admission took.
#[derive(Debug, Clone)]
pub struct Verified {
    pub key: Arc<ApiKey>,
    /// The record's revision `key` was read at (`lastUsedAt` aside, which moves without one).
    pub revision: u64,
    pub lease: Option<(LeaseId, DateTime<Utc>)>,
    pub window: Option<RateWindow>,
}

#[derive(Debug, Clone)]
pub struct UsageOutcome {
    pub cost: NanoUsd,
    pub daily_cost: NanoUsd,
    pub priced_as: String,
    pub price_fallback: bool,
    /// A repeat of a request id applied before: nothing changed, the figures are the first answer's.
    pub repeated: bool,
}

#[derive(Clone)]
pub struct KeyService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    key_prefix: String,
    encryption_key: String,
    clients: ClientMatcher,
    pricing: Arc<LivePricing>,
    zone: Zone,
    lease_ttl: Duration,
    /// Added to the system clock (tests only; see `Config::test_clock_offset_secs`).
    clock_offset: chrono::Duration,
    max_waiters: u64,
    request_log_len: u64,
    /// This instance's requests waiting for a slot, by their place in their key's queue.
    waiters: std::sync::Mutex<HashMap<String, Arc<Notify>>>,
    audit: AuditLimits,
    secret_ids: Cache<String, KeyId>,
    known_ids: Cache<KeyId, ()>,
    /// Key records by revision, so a verify does not fetch an unchanged record again.
    records: Cache<KeyId, Arc<RecordCopy>>,
    listing: listing::Listing,
}

pub struct KeyServiceSettings {
    pub key_prefix: String,
    pub encryption_key: String,
    pub clients: ClientMatcher,
    pub pricing: Arc<LivePricing>,
    pub zone: Zone,
    pub lease_ttl: Duration,
    pub clock_offset: chrono::Duration,
    /// Most requests that may wait for a slot of one key (`max_waiters_per_key`).
    pub max_waiters: u64,
    /// Entries each key's request log keeps (`request_log_per_key`).
    pub request_log_len: u64,
    pub audit: AuditLimits,
}

impl KeyService {
    pub fn new(store: Store, settings: KeyServiceSettings) -> KeyService {
        KeyService {
            inner: Arc::new(Inner {
                store,
                key_prefix: settings.key_prefix,
                encryption_key: settings.encryption_key,
                clients: settings.clients,
                pricing: settings.pricing,
                zone: settings.zone,
                lease_ttl: settings.lease_ttl,
                clock_offset: settings.clock_offset,
                max_waiters: settings.max_waiters,
                request_log_len: settings.request_log_len,
                waiters: std::sync::Mutex::new(HashMap::new()),
                audit: settings.audit,
                secret_ids: Cache::new(SECRET_CACHE_ENTRIES),
                known_ids: Cache::new(SECRET_CACHE_ENTRIES),
                records: Cache::new(SECRET_CACHE_ENTRIES),
                listing: listing::Listing::new(),
            }),
        }
    }

    pub fn clients(&self) -> &ClientMatcher {
        &self.inner.clients
    }

    pub fn zone(&self) -> Zone {
        self.inner.zone
    }

    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        self.inner.zone.date_of(now)
    }

    /// The time budgets are counted at: the system clock, moved by the test clock offset.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.inner.clock_offset
    }

    fn local_offset_ms(&self, now: DateTime<Utc>) -> i64 {
        local_offset_ms(self.inner.zone, now)
    }

    /// Whether storage answers (for the health check).
    pub async fn ping(&self) -> ServiceResult<()> {
        Ok(self.inner.store.ping().await?)
    }

    /// Creates a key from validated fields (defaults for the fields not given) once the rules
    /// across fields hold; returns it with its secret, which is not stored and never shown again.
    pub async fn create(
        &self,
        changes: KeyChanges,
        created_by: &str,
    ) -> ServiceResult<(KeySnapshot, String)> {
        let now = Utc::now();
        let changes = changes.with_defaults()?;
        FieldErrors::check((), changes.check_rules(None, now))?;
        let secret = generate_key(&self.inner.key_prefix);
        let secret_hash = key_hash(&secret, &self.inner.encryption_key);
        let hint = key_hint(&self.inner.key_prefix, &secret);
        let id = KeyId::new();
        let key = self
            .inner
            .store
            .create_key(id, &secret_hash, &hint, created_by, &changes, now)
            .await?;
        tracing::info!(key_id = %id, created_by, "key created");
        Ok((KeySnapshot::unused(key), secret))
    }

    /// A key holder's lookup of their own key by its secret: counted against the client
    /// address's per-minute limit before any work, then found by the secret's hash. A malformed,
    /// unknown or removed key is one answer ([`OwnKeyLookup::Refused`]), so the lookup cannot
    /// tell a guessed key that exists from one that does not by anything but being right.
    pub async fn lookup_own_key(
        &self,
        secret: &str,
        client: std::net::IpAddr,
        per_minute: u64,
    ) -> ServiceResult<OwnKeyLookup> {
        let scope = super::admins::client_scope(client);
        if let AttemptVerdict::Refused { retry_secs } = self
            .inner
            .store
            .count_self_lookup(&scope, per_minute)
            .await?
        {
            return Ok(OwnKeyLookup::Throttled { retry_secs });
        }
        if !has_key_format(&self.inner.key_prefix, secret) {
            return Ok(OwnKeyLookup::Refused);
        }
        let secret_hash = key_hash(secret, &self.inner.encryption_key);
        let Some(id) = self.inner.store.lookup_secret(&secret_hash).await? else {
            return Ok(OwnKeyLookup::Refused);
        };
        Ok(match self.get(id).await? {
            Some(snapshot) => OwnKeyLookup::Found(Box::new(snapshot)),
            None => OwnKeyLookup::Refused,
        })
    }

    pub async fn get(&self, id: KeyId) -> ServiceResult<Option<KeySnapshot>> {
        let now = self.now();
        let mut found = self
            .inner
            .store
            .snapshots(&[id], now, self.today(now), self.local_offset_ms(now))
            .await?;
        Ok(found.pop())
    }

    /// Applies validated changes once the rules across fields hold for the key as it would be;
    /// `false` when the key does not exist. The stored key is read only when a rule needs a
    /// value the changes do not set, so a save of every setting (the edit form's) is the write
    /// script and the index script alone.
    pub async fn update(&self, id: KeyId, changes: &KeyChanges) -> ServiceResult<bool> {
        let store = &self.inner.store;
        if changes.is_empty() {
            return Ok(store.key_exists(id).await?);
        }
        let now = Utc::now();
        let read_current = changes.rules_need_current();
        let current = if read_current {
            match store.key(id).await? {
                Some(key) => Some(key),
                None => return Ok(false),
            }
        } else {
            None
        };
        if let Err(broken) = FieldErrors::check((), changes.check_rules(current.as_ref(), now)) {
            // A missing key is "not found" whatever its changes break.
            if !read_current && !store.key_exists(id).await? {
                return Ok(false);
            }
            return Err(broken.into());
        }
        Ok(store.update_key(id, changes, now).await?)
    }

    pub async fn list(&self, query: &ListQuery) -> ServiceResult<(u64, Vec<KeySnapshot>)> {
        let now = self.now();
        let today = self.today(now);
        // A whole key pasted as the search text finds its key by hash (never by name).
        if let Some(secret) = query.search.as_deref().filter(|q| self.is_whole_key(q)) {
            let found: Vec<KeySnapshot> = self.find_by_secret(secret).await?.into_iter().collect();
            return Ok((found.len() as u64, found));
        }
        if query.status == Some(KeyStatus::Deleted) {
            return self.list_deleted(query.offset, query.count).await;
        }
        let (total, ids) = self
            .inner
            .listing
            .list(&self.inner.store, query, now, today)
            .await?;
        let keys = self
            .inner
            .store
            .snapshots(&ids, now, today, self.local_offset_ms(now))
            .await?;
        Ok((total, keys))
    }

    /// Every tag in use with its number of keys, most used first.
    pub async fn tags(&self) -> ServiceResult<Vec<(String, u64)>> {
        let today = self.today(self.now());
        self.inner.listing.tags(&self.inner.store, today).await
    }

    pub async fn count_expired_active(&self) -> ServiceResult<usize> {
        Ok(self.expired_active(Utc::now()).await?.len())
    }

    async fn expired_active(&self, now: DateTime<Utc>) -> ServiceResult<Vec<KeyId>> {
        let today = self.today(now);
        self.inner
            .listing
            .expired_active(&self.inner.store, now, today)
            .await
    }

    /// Keeps this instance's listing index current (see `keys::listing`); runs for ever.
    pub async fn follow_listing_changes(self) {
        let mut ticker = tokio::time::interval(listing::FOLLOW_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let today = self.today(self.now());
            if let Err(error) = self.inner.listing.catch_up(&self.inner.store, today).await {
                tracing::debug!(%error, "cannot read listing changes yet; will retry");
            }
        }
    }

    /// Disables every active key past its expiry; returns how many this call disabled. Each
    /// key is its own small script; the candidates come from the listing index.
    pub async fn disable_expired(&self, now: DateTime<Utc>) -> ServiceResult<usize> {
        let mut disabled = 0;
        for id in self.expired_active(now).await? {
            if self.inner.store.disable_if_expired(id, now).await? {
                disabled += 1;
            }
        }
        if disabled > 0 {
            tracing::info!(disabled, "disabled expired keys");
        }
        Ok(disabled)
    }

    /// Wakes this instance's waiter `member`, if it is here (a slot of its key was freed). A
    /// wake-up for a waiter not waiting at this moment is kept until it waits.
    pub fn wake(&self, member: &str) {
        let waiter = self.lock_waiters().get(member).cloned();
        if let Some(notify) = waiter {
            notify.notify_one();
        }
    }

    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        // A panic while holding the lock leaves the map whole (single inserts and removes).
        self.inner
            .waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks a key and, with `acquire`, admits one request against its limits. A refusal
    /// carries its `Retry-After`, by the refusal's rule. With a `wait`, an admission whose only
    /// refusal is the concurrency limit joins the key's queue and tries again when woken (a
    /// slot was freed: one wake-up per release), or when the earliest lease expires, until
    /// admitted or the wait runs out.
    pub async fn verify(
        &self,
        input: &VerifyInput<'_>,
    ) -> ServiceResult<Result<Verified, Refused>> {
        if !input.acquire || input.wait.is_zero() {
            return self.verify_once(input, None).await;
        }
        let started = tokio::time::Instant::now();
        let give_up = started + input.wait;
        let deadline_ms = (self.now() + chrono::Duration::from_std(input.wait).unwrap_or_default())
            .timestamp_millis();
        let member = format!("{deadline_ms}:{}", LeaseId::new(KeyId::new()).as_str());
        let notify = Arc::new(Notify::new());
        self.lock_waiters().insert(member.clone(), notify.clone());
        let outcome = self.wait_for_slot(input, &member, &notify, give_up).await;
        self.lock_waiters().remove(&member);
        outcome
    }

    async fn wait_for_slot(
        &self,
        input: &VerifyInput<'_>,
        member: &str,
        notify: &Notify,
        give_up: tokio::time::Instant,
    ) -> ServiceResult<Result<Verified, Refused>> {
        loop {
            let (refused, key_id, wait_ms) = match self.verify_step(input, Some(member)).await? {
                Ok(verified) => return Ok(Ok(verified)),
                Err((refused, None)) => return Ok(Err(refused)),
                Err((refused, Some((key_id, wait_ms)))) => (refused, key_id, wait_ms),
            };
            // Woken by a release, or at the earliest lease expiry (a crashed holder's slot
            // frees itself then), whichever comes first, within the wait.
            let lease_expiry = tokio::time::Instant::now()
                + std::time::Duration::from_millis(wait_ms.max(1) as u64);
            let wake_at = lease_expiry.min(give_up);
            let woken = tokio::time::timeout_at(wake_at, notify.notified())
                .await
                .is_ok();
            if !woken && tokio::time::Instant::now() >= give_up {
                // One last try: a slot freed at the very end is still taken.
                if let Ok(verified) = self.verify_once(input, Some(member)).await? {
                    return Ok(Ok(verified));
                }
                self.inner.store.leave_queue(key_id, member).await?;
                // The queued refusal named the earliest lease expiry; a slot usually frees
                // sooner, so the retry hint stays the concurrency refusal's usual second.
                return Ok(Err(Refused {
                    retry_after_secs: Some(1),
                    ..refused
                }));
            }
        }
    }

    async fn verify_once(
        &self,
        input: &VerifyInput<'_>,
        waiter: Option<&str>,
    ) -> ServiceResult<Result<Verified, Refused>> {
        Ok(self
            .verify_step(input, waiter)
            .await?
            .map_err(|(refused, _)| refused))
    }

    /// One verify script call. A refusal that queued the request names its key and the ms to
    /// the earliest lease expiry.
    #[allow(clippy::type_complexity)]
    async fn verify_step(
        &self,
        input: &VerifyInput<'_>,
        waiter: Option<&str>,
    ) -> ServiceResult<Result<Verified, (Refused, Option<(KeyId, i64)>)>> {
        let now = self.now();
        let refused_at = |refusal: Refusal, wait_ms: i64, week_reset: (u8, u8)| Refused {
            refusal,
            retry_after_secs: refusal.retry_after_secs(wait_ms, week_reset, self.inner.zone, now),
        };
        let refused = |refusal: Refusal, wait_ms: i64| refused_at(refusal, wait_ms, (1, 0));
        if !has_key_format(&self.inner.key_prefix, input.key) {
            return Ok(Err((refused(Refusal::InvalidFormat, 0), None)));
        }
        let secret_hash = key_hash(input.key, &self.inner.encryption_key);
        let (id, id_cached) = match self.inner.secret_ids.get(&secret_hash) {
            Some(id) => (id, true),
            None => match self.inner.store.lookup_secret(&secret_hash).await? {
                Some(id) => (id, false),
                None => return Ok(Err((refused(Refusal::NotFound, 0), None))),
            },
        };
        let cached = self.inner.records.get(&id);
        // The model's names and the matched clients are worked out only for a key that may
        // restrict them: when the cached record has no such restriction they are held back,
        // and the script asks for them if the stored record has one after all.
        let mut hold_back = cached.as_ref().map_or((false, false), |copy| {
            let key = &copy.key;
            (
                input.model.is_some() && !key.enable_model_restriction,
                input.client.is_some() && !key.enable_client_restriction,
            )
        });
        let result = loop {
            let (hold_model, hold_clients) = hold_back;
            let verdict = self
                .inner
                .store
                .verify(VerifyRequest {
                    id,
                    secret_hash: &secret_hash,
                    service: input.service,
                    model_names: if hold_model {
                        RuleInput::HeldBack
                    } else {
                        RuleInput::Sent(
                            input
                                .model
                                .map(|model| self.inner.pricing.current().restriction_names(model))
                                .unwrap_or_default(),
                        )
                    },
                    matched_clients: if hold_clients {
                        RuleInput::HeldBack
                    } else {
                        RuleInput::Sent(
                            input
                                .client
                                .map(|ua| self.inner.clients.matching(ua))
                                .unwrap_or_default(),
                        )
                    },
                    acquire: input.acquire,
                    lease_ttl: self.inner.lease_ttl,
                    now,
                    today: self.today(now),
                    local_offset_ms: self.local_offset_ms(now),
                    client_ip_hex: input.client_ip.map(address_hex),
                    cached: cached.as_deref(),
                    waiter,
                    max_waiters: self.inner.max_waiters,
                })
                .await?;
            match verdict {
                Verdict::Resend if hold_back != (false, false) => hold_back = (false, false),
                Verdict::Resend => {
                    return Err(ServiceError::Internal {
                        what: "the verify script asked again for inputs it was sent",
                        source: None,
                    })
                }
                Verdict::Admitted(admission) => break Ok(admission),
                Verdict::Refused(refusal) => break Err(refusal),
            }
        };
        let admission = match result {
            Err(ScriptRefusal {
                refusal,
                wait_ms,
                week_reset,
                queued,
            }) => {
                if refusal == Refusal::NotFound {
                    self.inner.secret_ids.remove(&secret_hash);
                    self.inner.records.remove(&id);
                }
                let in_queue = queued.then_some((id, wait_ms));
                return Ok(Err((refused_at(refusal, wait_ms, week_reset), in_queue)));
            }
            Ok(admission) => admission,
        };
        // Written on a miss only: an insert takes its shard's write lock on every verify.
        if !id_cached {
            self.inner.secret_ids.insert(secret_hash, id);
        }
        if self.inner.known_ids.get(&id).is_none() {
            self.inner.known_ids.insert(id, ());
        }
        if admission.activated {
            tracing::info!(key_id = %id, "activation-mode key activated by its first admission");
            // The expiry index (listing by status, the expiry sweep) lives in another slot: it
            // follows here. Verify itself reads the record, so a failure only delays the sweep.
            if let Err(error) = self.inner.store.reindex_key(id).await {
                tracing::warn!(key_id = %id, %error, "could not index the activated key's expiry");
            }
        }
        let key = match (admission.record, cached) {
            (Some(fresh), _) => {
                let key = fresh.key.clone();
                self.inner.records.insert(id, fresh);
                key
            }
            (None, Some(cached)) => cached.key.clone(),
            (None, None) => return Ok(Err((refused(Refusal::NotFound, 0), None))),
        };
        // lastUsedAt changes with every usage record without a new revision.
        let key = if key.last_used_at == admission.last_used_at {
            key
        } else {
            Arc::new(ApiKey {
                last_used_at: admission.last_used_at,
                ..(*key).clone()
            })
        };
        Ok(Ok(Verified {
            key,
            revision: admission.revision,
            lease: admission.lease,
            window: admission.window,
        }))
    }

    /// Prices and records one response's usage, whole or not at all.
    pub async fn record_usage(
        &self,
        report: &UsageReport,
    ) -> ServiceResult<Result<UsageOutcome, UsageRefusal>> {
        // The account ledger is written beside the key's counters; make sure an id never seen
        // here is a real key first, so a bogus id cannot add to an account's usage.
        if self.inner.known_ids.get(&report.key_id).is_none() {
            if !self.inner.store.key_exists(report.key_id).await? {
                return Ok(Err(UsageRefusal::UnknownKey));
            }
            self.inner.known_ids.insert(report.key_id, ());
        }
        let pricing = self.inner.pricing.current();
        let quote = pricing.quote(&report.model);
        // Breakdowns group by canonical model, so every spelling of a model is one row.
        let usage_model = quote.usage_model_name(&report.model);
        let cost = match quote.cost(&report.tokens) {
            Some(cost) if cost.nanos() <= MAX_COUNTER => cost,
            // Only a price far above any real one gets here: no counter could take the record.
            _ => {
                if let Some(lease) = &report.lease {
                    self.inner.store.release_lease(lease).await?;
                }
                return Ok(Err(UsageRefusal::CounterFull {
                    counter: "cost".into(),
                }));
            }
        };
        if quote.fallback {
            tracing::warn!(model = %report.model, "model not in the pricing table; priced with the fallback price");
        }
        let now = self.now();
        let outcome = self
            .inner
            .store
            .record_usage(&UsageWrite {
                key_id: report.key_id,
                account_id: report.account_id.as_deref(),
                model: &usage_model,
                reported_model: &report.model,
                lease: report.lease.as_ref(),
                request_id: report.request_id.as_ref(),
                tokens: report.tokens,
                cost,
                priced_as: quote.priced_as,
                price_fallback: quote.fallback,
                now,
                today: self.today(now),
                local_offset_ms: self.local_offset_ms(now),
                request_log_len: self.inner.request_log_len,
            })
            .await?;
        match outcome {
            RecordOutcome::Recorded { daily_cost } => {
                metrics::counter!("keyward_usage_recorded_total").increment(1);
                if quote.fallback {
                    metrics::counter!("keyward_usage_fallback_priced_total").increment(1);
                }
                metrics::counter!("keyward_usage_cost_nano_usd_total")
                    .increment(cost.nanos().max(0) as u64);
                Ok(Ok(UsageOutcome {
                    cost,
                    daily_cost,
                    priced_as: quote.priced_as.to_string(),
                    price_fallback: quote.fallback,
                    repeated: false,
                }))
            }
            RecordOutcome::Repeated(first) => Ok(Ok(UsageOutcome {
                cost: first.cost,
                daily_cost: first.daily_cost,
                priced_as: first.priced_as,
                price_fallback: first.price_fallback,
                repeated: true,
            })),
            RecordOutcome::Refused(refusal) => {
                match &refusal {
                    UsageRefusal::UnknownKey => {
                        self.inner.known_ids.remove(&report.key_id);
                    }
                    UsageRefusal::CounterFull { counter } => {
                        tracing::warn!(key_id = %report.key_id, counter = %counter, "usage record refused: a counter is full");
                    }
                }
                Ok(Err(refusal))
            }
        }
    }

    pub async fn renew_lease(&self, lease: &LeaseId) -> ServiceResult<Option<DateTime<Utc>>> {
        Ok(self
            .inner
            .store
            .renew_lease(lease, self.inner.lease_ttl, self.now())
            .await?)
    }

    /// A key's live leases, soonest expiry first; `None` for an unknown key.
    pub async fn leases(&self, id: KeyId) -> ServiceResult<Option<Vec<(String, DateTime<Utc>)>>> {
        if !self.inner.store.key_exists(id).await? {
            return Ok(None);
        }
        Ok(Some(self.inner.store.leases(id, self.now()).await?))
    }

    /// Drops every lease of a key; `None` for an unknown key, else how many were live.
    pub async fn release_all_leases(&self, id: KeyId) -> ServiceResult<Option<u64>> {
        if !self.inner.store.key_exists(id).await? {
            return Ok(None);
        }
        let released = self.inner.store.release_all_leases(id, self.now()).await?;
        tracing::info!(key_id = %id, released, "released every lease of a key");
        Ok(Some(released))
    }

    /// Extends a key's expiry (see `Store::extend_key`).
    pub async fn extend(
        &self,
        id: KeyId,
        extension: Extension,
        enable: bool,
    ) -> ServiceResult<ExtendOutcome> {
        let now = self.now();
        if let Extension::Until(at) = extension {
            if at <= now {
                return Err(FieldErrors::from(crate::domain::FieldError::new(
                    "expiresAt",
                    "is in the past; choose a later time",
                ))
                .into());
            }
        }
        let outcome = self
            .inner
            .store
            .extend_key(id, extension, enable, now)
            .await?;
        if outcome == ExtendOutcome::Extended {
            tracing::info!(key_id = %id, enable, "key extended");
        }
        Ok(outcome)
    }

    pub async fn release_lease(&self, lease: &LeaseId) -> ServiceResult<()> {
        Ok(self.inner.store.release_lease(lease).await?)
    }

    pub async fn account_usage(
        &self,
        account: &str,
        days: u32,
    ) -> ServiceResult<Vec<DailyModelUsage>> {
        Ok(self
            .inner
            .store
            .account_usage(account, self.today(Utc::now()), days)
            .await?)
    }

    pub async fn key_usage_by_day(
        &self,
        id: KeyId,
        days: u32,
    ) -> ServiceResult<Vec<DailyModelUsage>> {
        Ok(self
            .inner
            .store
            .key_usage_by_day(id, self.today(Utc::now()), days)
            .await?)
    }

    /// A page of a key's request log, newest first; `None` for an unknown key.
    pub async fn request_log(
        &self,
        id: KeyId,
        query: &RequestLogQuery,
    ) -> ServiceResult<Option<RequestLogPage>> {
        Ok(self.inner.store.request_log(id, query).await?)
    }

    /// A key's usage per hour of today in the configured zone.
    pub async fn usage_hours(&self, id: KeyId) -> ServiceResult<HourlyUsage> {
        let now = self.now();
        Ok(self.inner.store.usage_hours(id, self.today(now)).await?)
    }

    pub async fn accounts(&self) -> ServiceResult<Vec<(String, Option<DateTime<Utc>>)>> {
        Ok(self.inner.store.accounts().await?)
    }

    /// Keys with their live values, for ids the caller already has (the list's live refresh).
    pub async fn snapshots(&self, ids: &[KeyId]) -> ServiceResult<Vec<KeySnapshot>> {
        let now = self.now();
        Ok(self
            .inner
            .store
            .snapshots(ids, now, self.today(now), self.local_offset_ms(now))
            .await?)
    }

    pub async fn is_known_account(&self, account: &str) -> ServiceResult<bool> {
        Ok(self.inner.store.is_known_account(account).await?)
    }

    pub async fn bound_key_count(&self, account: &str) -> ServiceResult<usize> {
        Ok(self.inner.store.bound_key_count(account).await? as usize)
    }

    /// Up to `BOUND_KEYS_SHOWN` of the keys bound to an account (read in small steps).
    pub async fn keys_bound_to(&self, account: &str) -> ServiceResult<Vec<KeySnapshot>> {
        let ids = self
            .inner
            .store
            .keys_bound_to(account, BOUND_KEYS_SHOWN)
            .await?;
        let now = self.now();
        Ok(self
            .inner
            .store
            .snapshots(&ids, now, self.today(now), self.local_offset_ms(now))
            .await?)
    }

    /// Whether usage recorded under `model` is priced with the fallback price: the model is in
    /// neither price file (usage of such a model is kept under its normalised name).
    pub fn priced_by_fallback(&self, model: &str) -> bool {
        self.inner.pricing.current().quote(model).fallback
    }
}
