//! The only place that knows Redis: key names, scripts, and the operations built on them.

mod admins;
mod admission;
mod audit;
mod conn;
mod import;
mod keys;
mod lifecycle;
mod listing;
mod meta;
pub mod names;
mod records;
mod request_log;
mod sessions;
mod snapshots;
mod throttle;
mod usage;
mod wake;

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

pub use admins::{AdminRecord, AdminSessionState};
pub use admission::{Admission, RecordCopy, RuleInput, ScriptRefusal, Verdict, VerifyRequest};
pub use audit::AuditLimits;
pub use conn::{mark_low_priority_thread, RedisConn};
pub use keys::{ExtendOutcome, Extension};
pub use listing::{ChangeBatch, LoadCursor, LoadStep, CHANGES_STEP};
pub use meta::EncryptionKeyCheck;
pub use sessions::RedisSessionStore;
pub use throttle::{AttemptVerdict, SignInLimits, SignInSettlement};
pub use usage::{FirstAnswer, RecordOutcome, UsageWrite};
pub use wake::listen_for_wakes;

use crate::config::RedisTarget;

/// A failed Redis operation, with its cause kept for the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer within the configured timeout.
    #[error("Redis did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// Redis (or the connection to it) failed the command.
    #[error("Redis command failed")]
    Redis(#[source] redis::RedisError),
    /// Redis answered, but not in the shape the command or script promises: a bug, not an outage.
    #[error("unexpected reply from {from}: {detail}")]
    UnexpectedReply {
        from: &'static str,
        detail: String,
        #[source]
        source: Option<redis::ParsingError>,
    },
}

impl StoreError {
    pub(crate) fn unexpected(from: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::UnexpectedReply {
            from,
            detail: detail.into(),
            source: None,
        }
    }

    /// Whether the error is an outage (Redis unreachable, failing or slow) rather than a bug.
    pub fn is_outage(&self) -> bool {
        !matches!(self, StoreError::UnexpectedReply { .. })
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(error: redis::RedisError) -> Self {
        metrics::counter!("keyward_redis_errors_total").increment(1);
        StoreError::Redis(error)
    }
}

/// Decodes a reply we read ourselves; a reply of the wrong shape is [`StoreError::UnexpectedReply`].
pub(crate) fn decode<T: redis::FromRedisValue>(
    from: &'static str,
    value: &redis::Value,
) -> StoreResult<T> {
    redis::from_redis_value_ref(value).map_err(|source| StoreError::UnexpectedReply {
        from,
        detail: "a value of the wrong type".into(),
        source: Some(source),
    })
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Scripts are loaded by hash and re-sent by `redis::Script` when Redis answers NOSCRIPT
/// (after a restart), so recovery needs nothing from us.
pub(crate) struct Scripts {
    pub verify: Script,
    pub renew_lease: Script,
    pub record_usage: Script,
    pub record_ledger: Script,
    pub undo_ledger: Script,
    pub write_key: Script,
    pub disable_if_expired: Script,
    pub delete_key: Script,
    pub index_upsert: Script,
    pub index_remove: Script,
    pub extend_key: Script,
    pub release_lease: Script,
    pub leave_queue: Script,
}

pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    verify: Script::new(&admission::verify_script()),
    renew_lease: Script::new(include_str!("scripts/renew_lease.lua")),
    record_usage: Script::new(include_str!("scripts/record_usage.lua")),
    record_ledger: Script::new(include_str!("scripts/record_ledger.lua")),
    undo_ledger: Script::new(include_str!("scripts/undo_ledger.lua")),
    write_key: Script::new(include_str!("scripts/write_key.lua")),
    disable_if_expired: Script::new(include_str!("scripts/disable_if_expired.lua")),
    delete_key: Script::new(include_str!("scripts/delete_key.lua")),
    index_upsert: Script::new(include_str!("scripts/index_upsert.lua")),
    index_remove: Script::new(include_str!("scripts/index_remove.lua")),
    extend_key: Script::new(include_str!("scripts/extend_key.lua")),
    release_lease: Script::new(include_str!("scripts/release_lease.lua")),
    leave_queue: Script::new(include_str!("scripts/leave_queue.lua")),
});

#[derive(Clone)]
pub struct Store {
    conn: RedisConn,
    timeout: Duration,
}

impl Store {
    pub async fn connect(target: &RedisTarget, timeout: Duration) -> StoreResult<Store> {
        let conn = RedisConn::open(target, timeout)?;
        Ok(Store { conn, timeout })
    }

    /// A connection handle for one operation (cheap: the connection is multiplexed).
    pub fn conn(&self) -> RedisConn {
        self.conn.clone()
    }

    /// Runs one Redis operation with a deadline, so an outage answers quickly instead of hanging.
    pub(crate) async fn bounded<T>(
        &self,
        operation: impl Future<Output = redis::RedisResult<T>>,
    ) -> StoreResult<T> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(result) => Ok(result?),
            Err(_) => {
                metrics::counter!("keyward_redis_errors_total").increment(1);
                Err(StoreError::Timeout(self.timeout))
            }
        }
    }

    /// Pings over both connections (the relay's and the admin side's), so a health check after
    /// a Redis restart also reconnects the admin side's before an admin request finds it broken.
    pub async fn ping(&self) -> StoreResult<()> {
        let ping = |mut conn: RedisConn| async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        let both = futures::future::try_join(ping(self.conn()), ping(self.conn.low_priority()));
        self.bounded(both).await.map(|_| ())
    }
}
