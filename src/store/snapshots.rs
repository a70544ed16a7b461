//! Keys with their live limits and usage, as the dashboard and the admin API show them.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use redis::Value;

use super::names::KeyNames;
use super::records::{decode_key, usage_from_counters, USAGE_COUNTERS};
use super::{decode, Store, StoreError, StoreResult};
use crate::domain::budgets::week_start_local_ms;
use crate::domain::ids::KeyId;
use crate::domain::key::{KeySnapshot, RateWindow, UsageTotals};
use crate::domain::money::NanoUsd;

const FROM: &str = "the key snapshot pipeline";

impl Store {
    /// Keys with their live limits and usage. Each key's seven reads are one pipeline on its
    /// own slot (a cluster refuses pipelines that cross slots); the pipelines of all keys go
    /// out together on the multiplexed connection, so a page costs one round trip, not one per
    /// key. Ids whose record is gone are skipped.
    ///
    /// The usage buckets are read with `HMGET` of their counters rather than `HGETALL`: half
    /// the reply values, and parsing each value was most of a list page's cost in keyward.
    pub async fn snapshots(
        &self,
        ids: &[KeyId],
        now: DateTime<Utc>,
        today: NaiveDate,
        local_offset_ms: i64,
    ) -> StoreResult<Vec<KeySnapshot>> {
        let reads = ids.iter().map(|id| self.snapshot_reads(*id, now, today));
        let replies = self.bounded(futures::future::try_join_all(reads)).await?;
        let mut snapshots = Vec::with_capacity(ids.len());
        for (id, reply) in ids.iter().zip(replies) {
            if let Some(snapshot) =
                SnapshotReply::decode(reply)?.into_snapshot(*id, now, local_offset_ms)
            {
                snapshots.push(snapshot);
            }
        }
        Ok(snapshots)
    }

    async fn snapshot_reads(
        &self,
        id: KeyId,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> redis::RedisResult<Vec<Value>> {
        let key = KeyNames::new(id);
        let mut pipe = redis::pipe();
        pipe.hgetall(key.record())
            .cmd("HMGET")
            .arg(key.window())
            .arg(&["start", "end", "requests", "tokens", "cost"])
            .zcount(key.leases(), format!("({}", now.timestamp_millis()), "+inf");
        for bucket in [
            key.usage_total(),
            key.usage_day(today),
            key.usage_month(today),
        ] {
            pipe.cmd("HMGET").arg(bucket).arg(&USAGE_COUNTERS);
        }
        pipe.cmd("HMGET")
            .arg(key.usage_week())
            .arg(&["week", "cost"]);
        let mut conn = self.conn();
        pipe.query_async(&mut conn).await
    }
}

/// The replies of one key's snapshot pipeline, in the order `snapshot_reads` sends them.
struct SnapshotReply {
    record: HashMap<String, String>,
    /// The rate window's start, end, requests, tokens and cost (all absent with no window).
    window: [Option<i64>; 5],
    live_leases: u64,
    total: UsageTotals,
    daily: UsageTotals,
    monthly: UsageTotals,
    /// The weekly bucket's week (its local start, ms) and cost.
    week: [Option<i64>; 2],
}

impl SnapshotReply {
    fn decode(reply: Vec<Value>) -> StoreResult<SnapshotReply> {
        let [record, window, live_leases, total, daily, monthly, week] =
            <[Value; 7]>::try_from(reply).map_err(|reply| {
                StoreError::unexpected(FROM, format!("{} replies, not 7", reply.len()))
            })?;
        let usage = |value: &Value| decode(FROM, value).map(usage_from_counters);
        Ok(SnapshotReply {
            // Owned: the record's strings move out of the reply instead of being copied.
            record: redis::from_redis_value(record).map_err(|source| {
                StoreError::UnexpectedReply {
                    from: FROM,
                    detail: "a value of the wrong type".into(),
                    source: Some(source),
                }
            })?,
            window: decode(FROM, &window)?,
            live_leases: decode(FROM, &live_leases)?,
            total: usage(&total)?,
            daily: usage(&daily)?,
            monthly: usage(&monthly)?,
            week: decode(FROM, &week)?,
        })
    }

    /// `None` when the key's record is gone.
    fn into_snapshot(
        self,
        id: KeyId,
        now: DateTime<Utc>,
        local_offset_ms: i64,
    ) -> Option<KeySnapshot> {
        let key = decode_key(id, &self.record)?;
        let this_week = week_start_local_ms(
            now.timestamp_millis() + local_offset_ms,
            key.budgets.weekly_reset_day,
            key.budgets.weekly_reset_hour,
        );
        let weekly_cost = match self.week {
            [Some(week), Some(cost)] if week == this_week => cost,
            _ => 0,
        };
        let window_cost = match self.window {
            [_, Some(end_ms), _, _, Some(cost)] if end_ms > now.timestamp_millis() => cost,
            _ => 0,
        };
        let window = match self.window {
            [Some(start_ms), Some(end_ms), requests, tokens, _]
                if end_ms > now.timestamp_millis() =>
            {
                Some(RateWindow {
                    start_ms,
                    end_ms,
                    requests: requests.unwrap_or(0).max(0) as u64,
                    tokens: tokens.unwrap_or(0).max(0) as u64,
                })
            }
            _ => None,
        };
        Some(KeySnapshot {
            key,
            current_concurrency: self.live_leases,
            window,
            total: self.total,
            daily: self.daily,
            monthly: self.monthly,
            weekly_cost: NanoUsd::from_nanos(weekly_cost),
            window_cost: NanoUsd::from_nanos(window_cost),
        })
    }
}
