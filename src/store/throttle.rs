//! Login throttling: failed attempts counted per scope in Redis with a fixed expiry.

use redis::AsyncCommands;

use super::names;
use super::{Store, StoreResult};

impl Store {
    /// Failed attempts recorded for `scope` in its running period, and seconds until it ends.
    pub async fn login_failures(&self, scope: &str) -> StoreResult<(u64, u64)> {
        let mut conn = self.conn();
        let key = names::login_failures(scope);
        let (count, ttl): (Option<u64>, i64) = self
            .bounded(async move {
                redis::pipe()
                    .get(&key)
                    .ttl(&key)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok((count.unwrap_or(0), ttl.max(0) as u64))
    }

    /// Counts one failure; the period starts with the first failure (atomically, in one MULTI).
    pub async fn add_login_failure(&self, scope: &str, period_secs: u64) -> StoreResult<()> {
        let mut conn = self.conn();
        let key = names::login_failures(scope);
        self.bounded(async move {
            redis::pipe()
                .atomic()
                .incr(&key, 1)
                .expire(&key, period_secs as i64)
                .arg("NX")
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    pub async fn clear_login_failures(&self, scope: &str) -> StoreResult<()> {
        let mut conn = self.conn();
        let key = names::login_failures(scope);
        self.bounded(async move { conn.del::<_, i64>(key).await })
            .await?;
        Ok(())
    }
}
