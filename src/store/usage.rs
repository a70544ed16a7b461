//! Usage records: the index/account ledger (the index slot), then the key's counters (its slot),
//! each bounded and idempotent per request id; and reads of daily usage per model.

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use redis::{AsyncCommands, Value};

use super::names::{index, KeyNames, WAKE_CHANNEL};
use super::records::decode_usage_by_model;
use super::{decode, Store, StoreError, StoreResult, SCRIPTS};
use crate::domain::ids::{KeyId, LeaseId};
use crate::domain::key::DailyModelUsage;
use crate::domain::money::NanoUsd;
use crate::domain::pricing::TokenCounts;
use crate::domain::usage::{RequestId, UsageRefusal, MAX_COUNTER, REQUEST_ID_TTL_MS};

/// Dated usage is kept this long; charts look back at most 90 days.
pub(super) const DAILY_RETENTION_DAYS: u64 = 100;
pub(super) const MONTHLY_RETENTION_DAYS: u64 = 800;
/// Hourly buckets chart only today; two days covers any zone's today.
const HOUR_BUCKET_RETENTION_MS: i64 = 2 * 86_400_000;

pub struct UsageWrite<'a> {
    pub key_id: KeyId,
    pub account_id: Option<&'a str>,
    /// The usage bucket's model (canonical when the price table knows it).
    pub model: &'a str,
    /// The model as the relay reported it, for the request log.
    pub reported_model: &'a str,
    pub lease: Option<&'a LeaseId>,
    pub request_id: Option<&'a RequestId>,
    pub tokens: TokenCounts,
    pub cost: NanoUsd,
    /// Kept with a request id, so a repeat answers what the first record answered.
    pub priced_as: &'a str,
    pub price_fallback: bool,
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
    /// ms to add to `now` for the wall clock in the configured zone (weekly budgets).
    pub local_offset_ms: i64,
    /// Entries the key's request log keeps (0: no log).
    pub request_log_len: u64,
}

/// What recording one usage did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Applied; today's cost after it.
    Recorded { daily_cost: NanoUsd },
    /// The request id was applied before; nothing changed, and this is what the first answer said.
    Repeated(FirstAnswer),
    /// Nothing applied (the lease, if any, was released).
    Refused(UsageRefusal),
}

/// The figures a record answered with, kept for its request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstAnswer {
    pub cost: NanoUsd,
    pub daily_cost: NanoUsd,
    pub priced_as: String,
    pub price_fallback: bool,
}

/// The index side's reply (record_ledger.lua).
enum LedgerReply {
    Unindexed,
    Repeated,
    Full {
        counter: String,
    },
    /// Applied, with the sort-order scores an undo restores.
    Applied {
        previous_last_used: String,
        previous_account: String,
    },
}

/// The key side's reply (record_usage.lua).
enum KeySideReply {
    UnknownKey,
    Repeated(FirstAnswer),
    Full { counter: String },
    Applied { daily_cost: NanoUsd },
}

/// A nano-USD amount a script sent as text (Lua prints large numbers rounded, so the scripts
/// keep amounts as the text Redis stores).
fn nanos(from: &'static str, value: &Value) -> StoreResult<NanoUsd> {
    let text: String = decode(from, value)?;
    text.parse()
        .map(NanoUsd::from_nanos)
        .map_err(|_| StoreError::unexpected(from, format!("the amount `{text}`")))
}

/// A script's reply as its tag and the values that follow it.
fn tagged<'a>(from: &'static str, reply: &'a [Value]) -> StoreResult<(String, &'a [Value])> {
    match reply {
        [tag, rest @ ..] => Ok((decode(from, tag)?, rest)),
        [] => Err(StoreError::unexpected(from, "an empty reply")),
    }
}

fn unexpected(from: &'static str, tag: &str, values: &[Value]) -> StoreError {
    StoreError::unexpected(
        from,
        format!("the tag `{tag}` with {} values", values.len()),
    )
}

impl LedgerReply {
    const FROM: &'static str = "record_ledger.lua";

    fn decode(reply: &[Value]) -> StoreResult<LedgerReply> {
        let from = Self::FROM;
        let (tag, values) = tagged(from, reply)?;
        match (tag.as_str(), values) {
            ("unindexed", []) => Ok(LedgerReply::Unindexed),
            ("repeat", []) => Ok(LedgerReply::Repeated),
            ("full", [counter]) => Ok(LedgerReply::Full {
                counter: decode(from, counter)?,
            }),
            ("ok", [previous_last_used, previous_account]) => Ok(LedgerReply::Applied {
                previous_last_used: decode(from, previous_last_used)?,
                previous_account: decode(from, previous_account)?,
            }),
            _ => Err(unexpected(from, &tag, values)),
        }
    }
}

impl KeySideReply {
    const FROM: &'static str = "record_usage.lua";

    fn decode(reply: &[Value]) -> StoreResult<KeySideReply> {
        let from = Self::FROM;
        let (tag, values) = tagged(from, reply)?;
        match (tag.as_str(), values) {
            ("unknown", []) => Ok(KeySideReply::UnknownKey),
            ("repeat", [cost, daily_cost, priced_as, price_fallback]) => {
                Ok(KeySideReply::Repeated(FirstAnswer {
                    cost: nanos(from, cost)?,
                    daily_cost: nanos(from, daily_cost)?,
                    priced_as: decode(from, priced_as)?,
                    price_fallback: decode::<String>(from, price_fallback)? == "1",
                }))
            }
            ("full", [counter]) => Ok(KeySideReply::Full {
                counter: decode(from, counter)?,
            }),
            ("ok", [daily_cost]) => Ok(KeySideReply::Applied {
                daily_cost: nanos(from, daily_cost)?,
            }),
            _ => Err(unexpected(from, &tag, values)),
        }
    }
}

pub(super) fn expiry_ms(today: NaiveDate, days: u64) -> i64 {
    today
        .checked_add_days(Days::new(days))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or(i64::MAX)
}

impl Store {
    /// Records one usage, whole or not at all. The key's counters (its slot) and the
    /// index/account ledger (the index slot) are two scripts, so they run one after the other:
    /// the ledger first, then the key's side; when the key's side refuses (a full counter, the
    /// key gone), the ledger is taken back. Each side keeps its own marker of a request id, so
    /// a retry after a failure between the two applies only what is missing.
    pub async fn record_usage(&self, usage: &UsageWrite<'_>) -> StoreResult<RecordOutcome> {
        let result = self.record_usage_sides(usage).await;
        if result.is_err() {
            // The response is over whatever happened to its record: free its slot if Redis
            // lets us (a retry releases it again, harmlessly).
            if let Some(lease) = usage.lease {
                if let Err(error) = self.release_lease(lease).await {
                    tracing::warn!(%error, "could not release the lease of a failed usage record");
                }
            }
        }
        result
    }

    async fn record_usage_sides(&self, usage: &UsageWrite<'_>) -> StoreResult<RecordOutcome> {
        let key = KeyNames::new(usage.key_id);
        let key_id = usage.key_id.to_string();
        let now_ms = usage.now.timestamp_millis();
        let day_expiry = expiry_ms(usage.today, DAILY_RETENTION_DAYS);
        let request_id = usage.request_id.map(RequestId::as_str).unwrap_or("");
        // Both markers get the same expiry, so they vanish together.
        let marker_expiry = now_ms.saturating_add(REQUEST_ID_TTL_MS);
        let t = &usage.tokens;
        // allTokens is not stored: it is the sum of the others, computed when read.
        let counters: [(&str, String); 7] = [
            ("requests", "1".into()),
            ("inputTokens", t.input.to_string()),
            ("outputTokens", t.output.to_string()),
            ("cacheCreate5mTokens", t.cache_write_5m.to_string()),
            ("cacheCreate1hTokens", t.cache_write_1h.to_string()),
            ("cacheReadTokens", t.cache_read.to_string()),
            ("cost", usage.cost.nanos().to_string()),
        ];
        let account = usage.account_id.unwrap_or("");
        let ledger_keys = |invocation: &mut redis::ScriptInvocation<'static>| {
            invocation
                .key(index::ROWS)
                .key(index::LAST_USED)
                .key(index::cost_on(usage.today))
                .key(index::account_day(account, usage.today))
                .key(index::ACCOUNTS)
                .key(index::request_markers(&key_id))
                .key(index::CHANGES)
                .key(index::LEGACY_CREATED);
        };

        let mut ledger_side = SCRIPTS.record_ledger.prepare_invoke();
        ledger_keys(&mut ledger_side);
        ledger_side
            .arg(&key_id)
            .arg(now_ms)
            .arg(usage.model)
            .arg(account)
            .arg(day_expiry)
            .arg(request_id)
            .arg(marker_expiry)
            .arg(MAX_COUNTER);
        for (counter, amount) in &counters {
            ledger_side.arg(*counter).arg(amount);
        }
        let mut conn = self.conn();
        let reply: Vec<Value> = self
            .bounded(async move { ledger_side.invoke_async(&mut conn).await })
            .await?;
        let ledger = LedgerReply::decode(&reply)?;
        if let LedgerReply::Full { counter } = ledger {
            if let Some(lease) = usage.lease {
                self.release_lease(lease).await?;
            }
            return Ok(RecordOutcome::Refused(UsageRefusal::CounterFull {
                counter,
            }));
        }

        let mut key_side = SCRIPTS.record_usage.prepare_invoke();
        key_side
            .key(key.record())
            .key(key.usage_total())
            .key(key.usage_day(usage.today))
            .key(key.usage_month(usage.today))
            .key(key.usage_day_by_model(usage.today))
            .key(key.window())
            .key(key.leases())
            .key(key.periods())
            .key(key.usage_week())
            .key(key.waiters())
            .key(key.request_log())
            .key(key.usage_hours(usage.today));
        if let Some(request_id) = usage.request_id {
            key_side.key(key.request_marker(request_id.as_str()));
        }
        key_side
            .arg(now_ms)
            .arg(usage.model)
            .arg(usage.lease.map(LeaseId::as_str).unwrap_or(""))
            .arg(day_expiry)
            .arg(expiry_ms(usage.today, MONTHLY_RETENTION_DAYS))
            .arg(t.all())
            .arg(MAX_COUNTER)
            .arg(marker_expiry)
            .arg(usage.cost.nanos())
            .arg(usage.priced_as)
            .arg(if usage.price_fallback { "1" } else { "0" })
            .arg(usage.local_offset_ms)
            .arg(WAKE_CHANNEL)
            .arg(usage.reported_model)
            .arg(account)
            .arg(usage.request_log_len)
            .arg(now_ms.saturating_add(HOUR_BUCKET_RETENTION_MS));
        for (counter, amount) in &counters {
            key_side.arg(*counter).arg(amount);
        }
        let mut conn = self.conn();
        let reply: Vec<Value> = self
            .bounded(async move { key_side.invoke_async(&mut conn).await })
            .await?;
        let refusal = match KeySideReply::decode(&reply)? {
            KeySideReply::Applied { daily_cost } => {
                return Ok(RecordOutcome::Recorded { daily_cost })
            }
            KeySideReply::Repeated(first) => return Ok(RecordOutcome::Repeated(first)),
            KeySideReply::Full { counter } => UsageRefusal::CounterFull { counter },
            KeySideReply::UnknownKey => UsageRefusal::UnknownKey,
        };

        // The key's side refused: take back the ledger side, which this call applied (or, for
        // a repeat, an earlier call with the same request id applied).
        let (applied_here, previous_last_used, previous_account) = match &ledger {
            LedgerReply::Applied {
                previous_last_used,
                previous_account,
            } => (true, previous_last_used.as_str(), previous_account.as_str()),
            LedgerReply::Repeated if !request_id.is_empty() => (false, "", ""),
            _ => return Ok(RecordOutcome::Refused(refusal)),
        };
        let mut undo = SCRIPTS.undo_ledger.prepare_invoke();
        ledger_keys(&mut undo);
        undo.arg(&key_id)
            .arg(now_ms)
            .arg(usage.model)
            .arg(account)
            .arg(request_id)
            .arg(if applied_here { "1" } else { "0" })
            .arg(previous_last_used)
            .arg(previous_account);
        for (counter, amount) in &counters {
            undo.arg(*counter).arg(amount);
        }
        let mut conn = self.conn();
        self.bounded(async move { undo.invoke_async::<i64>(&mut conn).await })
            .await?;
        Ok(RecordOutcome::Refused(refusal))
    }

    /// Whether a key record exists (used before accepting usage for an id never seen here).
    pub async fn key_exists(&self, id: KeyId) -> StoreResult<bool> {
        let mut conn = self.conn();
        let record = KeyNames::new(id).record();
        self.bounded(async move { conn.exists(record).await }).await
    }

    /// An upstream account's usage per model for each of `days` days ending `today`.
    pub async fn account_usage(
        &self,
        account: &str,
        today: NaiveDate,
        days: u32,
    ) -> StoreResult<Vec<DailyModelUsage>> {
        let dates = last_days(today, days);
        let names: Vec<String> = dates
            .iter()
            .map(|d| index::account_day(account, *d))
            .collect();
        self.daily_usage(dates, names).await
    }

    /// One key's usage per model for each of `days` days ending `today`.
    pub async fn key_usage_by_day(
        &self,
        id: KeyId,
        today: NaiveDate,
        days: u32,
    ) -> StoreResult<Vec<DailyModelUsage>> {
        let key = KeyNames::new(id);
        let dates = last_days(today, days);
        let names: Vec<String> = dates.iter().map(|d| key.usage_day_by_model(*d)).collect();
        self.daily_usage(dates, names).await
    }

    async fn daily_usage(
        &self,
        dates: Vec<NaiveDate>,
        names: Vec<String>,
    ) -> StoreResult<Vec<DailyModelUsage>> {
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.hgetall(name);
        }
        let mut conn = self.conn();
        let days: Vec<HashMap<String, String>> = self
            .bounded(async move { pipe.query_async(&mut conn).await })
            .await?;
        Ok(dates
            .into_iter()
            .zip(days)
            .map(|(date, fields)| DailyModelUsage {
                date,
                models: decode_usage_by_model(&fields),
            })
            .collect())
    }

    /// Known upstream accounts (with usage or bound to a key) and when each was last used.
    pub async fn accounts(&self) -> StoreResult<Vec<(String, Option<DateTime<Utc>>)>> {
        let mut conn = self.conn();
        let accounts: Vec<(String, f64)> = self
            .bounded(async move { conn.zrevrange_withscores(index::ACCOUNTS, 0, -1).await })
            .await?;
        Ok(accounts
            .into_iter()
            .map(|(id, ms)| {
                (
                    id,
                    (ms > 0.0)
                        .then(|| DateTime::from_timestamp_millis(ms as i64))
                        .flatten(),
                )
            })
            .collect())
    }
}

/// `days` dates ending with `today`, oldest first.
fn last_days(today: NaiveDate, days: u32) -> Vec<NaiveDate> {
    (0..u64::from(days))
        .rev()
        .filter_map(|back| today.checked_sub_days(Days::new(back)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn replies_decode_by_their_tag() {
        match KeySideReply::decode(&[text("repeat"), text("7"), text("9"), text("m"), text("1")]) {
            Ok(KeySideReply::Repeated(first)) => {
                assert_eq!(first.cost, NanoUsd::from_nanos(7));
                assert_eq!(first.daily_cost, NanoUsd::from_nanos(9));
                assert_eq!(first.priced_as, "m");
                assert!(first.price_fallback);
            }
            _ => panic!("a repeat"),
        }
        assert!(matches!(
            LedgerReply::decode(&[text("ok"), text("5"), text("")]),
            Ok(LedgerReply::Applied { previous_last_used, previous_account })
                if previous_last_used == "5" && previous_account.is_empty()
        ));
    }

    #[test]
    fn a_reply_of_another_shape_is_unexpected_not_an_outage() {
        for reply in [
            vec![],
            vec![text("ok")],
            vec![text("ok"), text("not-a-number")],
            vec![text("maybe")],
        ] {
            let error = KeySideReply::decode(&reply).err().expect("refused");
            assert!(!error.is_outage(), "{error}");
        }
        assert!(LedgerReply::decode(&[text("full")]).is_err());
    }
}
