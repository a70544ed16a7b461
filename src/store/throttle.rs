//! Attempt throttling: attempts counted in Redis per scope with a fixed period, checked and
//! counted in one script before the costly work, so parallel attempts cannot race past a limit.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::names;
use super::{Store, StoreResult};

static TAKE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/attempt_take.lua")));
static COUNT_LOOKUP: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/count_lookup.lua")));
static SETTLE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/attempt_settle.lua")));

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// Allowed, and already counted.
    Counted,
    /// A limit is reached; nothing was counted. The period ends in this many seconds.
    Refused { retry_secs: u64 },
}

/// How a counted sign-in attempt ended, when it should not stay counted as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInSettlement {
    /// The password was right: the username's failures from this address are forgiven; the
    /// address keeps its count of other failures and only this attempt is taken back.
    Succeeded,
    /// The password was never checked (hashing was busy): the attempt is taken back everywhere.
    NotChecked,
}

/// Limits of one sign-in attempt, per period.
#[derive(Debug, Clone, Copy)]
pub struct SignInLimits {
    pub per_address: u64,
    pub per_user: u64,
    pub period: Duration,
}

impl Store {
    /// Counts a key lookup from `scope` (a client address) against `per_minute`, atomically
    /// and before any work; refused lookups are not counted.
    pub async fn count_self_lookup(
        &self,
        scope: &str,
        per_minute: u64,
    ) -> StoreResult<AttemptVerdict> {
        let mut invocation = COUNT_LOOKUP.prepare_invoke();
        invocation
            .key(names::self_lookups_by_address(scope))
            .arg(per_minute)
            .arg(60);
        let mut conn = self.conn();
        let wait_secs: u64 = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Ok(match wait_secs {
            0 => AttemptVerdict::Counted,
            retry_secs => AttemptVerdict::Refused { retry_secs },
        })
    }

    /// Counts a sign-in attempt from `scope` (a client address) for `username` against both the
    /// address's and the address+username's limit, atomically and before any password work.
    pub async fn count_sign_in_attempt(
        &self,
        scope: &str,
        username: &str,
        limits: SignInLimits,
    ) -> StoreResult<AttemptVerdict> {
        let mut invocation = TAKE.prepare_invoke();
        invocation
            .key(names::login_attempts_by_address(scope))
            .key(names::login_attempts_by_user(scope, username))
            .arg(limits.period.as_secs().max(1))
            .arg(limits.per_address)
            .arg(limits.per_user);
        let mut conn = self.conn();
        let wait_secs: u64 = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Ok(match wait_secs {
            0 => AttemptVerdict::Counted,
            retry_secs => AttemptVerdict::Refused { retry_secs },
        })
    }

    /// Settles a counted sign-in attempt that was not a failure (a failure stays counted).
    pub async fn settle_sign_in_attempt(
        &self,
        scope: &str,
        username: &str,
        settlement: SignInSettlement,
    ) -> StoreResult<()> {
        let (address, user) = match settlement {
            SignInSettlement::Succeeded => ("undo", "clear"),
            SignInSettlement::NotChecked => ("undo", "undo"),
        };
        let mut invocation = SETTLE.prepare_invoke();
        invocation
            .key(names::login_attempts_by_address(scope))
            .key(names::login_attempts_by_user(scope, username))
            .arg(address)
            .arg(user);
        let mut conn = self.conn();
        self.bounded(async move { invocation.invoke_async::<i64>(&mut conn).await })
            .await?;
        Ok(())
    }
}
