//! Usage records: the key's counters (its slot) and the index/account ledger (the index slot),
//! sent together so they cost one round trip; and reads of daily usage per model.

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use redis::AsyncCommands;

use super::names::{index, KeyNames};
use super::records::decode_usage_by_model;
use super::{Store, StoreResult, SCRIPTS};
use crate::domain::ids::{KeyId, LeaseId};
use crate::domain::key::UsageTotals;
use crate::domain::money::NanoUsd;
use crate::domain::pricing::TokenCounts;

/// Dated usage is kept this long; charts look back at most 90 days.
const DAILY_RETENTION_DAYS: u64 = 100;
const MONTHLY_RETENTION_DAYS: u64 = 800;

pub struct UsageWrite<'a> {
    pub key_id: KeyId,
    pub account_id: Option<&'a str>,
    pub model: &'a str,
    pub lease: Option<&'a LeaseId>,
    pub tokens: TokenCounts,
    pub cost: NanoUsd,
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
}

/// One day of usage, per model.
#[derive(Debug, Clone)]
pub struct DailyModelUsage {
    pub date: NaiveDate,
    pub models: Vec<(String, UsageTotals)>,
}

fn expiry_ms(today: NaiveDate, days: u64) -> i64 {
    today
        .checked_add_days(Days::new(days))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or(i64::MAX)
}

impl Store {
    /// Records one usage; `None` when the key does not exist (then nothing is recorded on it),
    /// else today's cost after this record.
    pub async fn record_usage(&self, usage: &UsageWrite<'_>) -> StoreResult<Option<NanoUsd>> {
        let key = KeyNames::new(usage.key_id);
        let now_ms = usage.now.timestamp_millis();
        let day_expiry = expiry_ms(usage.today, DAILY_RETENTION_DAYS);
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
            .arg(now_ms)
            .arg(usage.model)
            .arg(usage.lease.map(LeaseId::as_str).unwrap_or(""))
            .arg(day_expiry)
            .arg(expiry_ms(usage.today, MONTHLY_RETENTION_DAYS))
            .arg(t.all());
        let account = usage.account_id.unwrap_or("");
        let mut ledger_side = SCRIPTS.record_ledger.prepare_invoke();
        ledger_side
            .key(index::CREATED)
            .key(index::LAST_USED)
            .key(index::cost_on(usage.today))
            .key(index::account_day(account, usage.today))
            .key(index::ACCOUNTS)
            .arg(usage.key_id.to_string())
            .arg(now_ms)
            .arg(usage.model)
            .arg(account)
            .arg(expiry_ms(usage.today, DAILY_RETENTION_DAYS));
        for (counter, amount) in &counters {
            key_side.arg(*counter).arg(amount);
            ledger_side.arg(*counter).arg(amount);
        }
        // Both scripts go out at once on the multiplexed connection: one round trip.
        let (mut key_conn, mut ledger_conn) = (self.conn(), self.conn());
        let (key_reply, ledger_reply) = self
            .bounded(async move {
                let key_call = key_side.invoke_async::<Vec<i64>>(&mut key_conn);
                let ledger_call = ledger_side.invoke_async::<i64>(&mut ledger_conn);
                Ok(tokio::join!(key_call, ledger_call))
            })
            .await?;
        let key_reply = key_reply?;
        ledger_reply?;
        match key_reply.as_slice() {
            [1, daily_cost] => Ok(Some(NanoUsd::from_nanos(*daily_cost))),
            _ => Ok(None),
        }
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
