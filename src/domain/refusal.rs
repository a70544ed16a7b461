//! Why a verify refused a key. One table gives each refusal its code, HTTP status, message and
//! retry rule; the verify script's reply is parsed by code through it, and the relay API
//! answers from it, so a code is spelled once here (and once in the script that sends it).

use chrono::{DateTime, Utc};

use super::budgets::{next_month_start, next_weekly_reset};
use super::timezone::Zone;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InvalidFormat,
    NotFound,
    Disabled,
    Expired,
    PermissionDenied,
    ModelNotAllowed,
    ClientNotAllowed,
    IpNotAllowed,
    DailyCostLimit,
    WeeklyCostLimit,
    MonthlyCostLimit,
    TotalCostLimit,
    WindowCostLimit,
    RateLimit,
    TokenLimit,
    ConcurrencyLimit,
}

/// When a refused caller may try again: the relay API's `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryRule {
    /// Not by waiting: an admin has to change the key (no `Retry-After`).
    Never,
    /// After the wait the verify script names: the rest of the rate window, or a moment for a
    /// concurrency slot.
    ScriptWait,
    /// At the next midnight in the configured zone, when today's cost starts again from 0.
    NextMidnight,
    /// At the key's next weekly reset (its day and hour) in the configured zone.
    NextWeeklyReset,
    /// At the 1st of next month, 00:00 in the configured zone.
    NextMonthStart,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalRow {
    pub code: &'static str,
    pub http_status: u16,
    pub message: &'static str,
    pub retry: RetryRule,
}

const fn row(
    code: &'static str,
    http_status: u16,
    message: &'static str,
    retry: RetryRule,
) -> RefusalRow {
    RefusalRow {
        code,
        http_status,
        message,
        retry,
    }
}

impl Refusal {
    pub const ALL: [Refusal; 16] = [
        Refusal::InvalidFormat,
        Refusal::NotFound,
        Refusal::Disabled,
        Refusal::Expired,
        Refusal::PermissionDenied,
        Refusal::ModelNotAllowed,
        Refusal::ClientNotAllowed,
        Refusal::IpNotAllowed,
        Refusal::DailyCostLimit,
        Refusal::WeeklyCostLimit,
        Refusal::MonthlyCostLimit,
        Refusal::TotalCostLimit,
        Refusal::WindowCostLimit,
        Refusal::RateLimit,
        Refusal::TokenLimit,
        Refusal::ConcurrencyLimit,
    ];

    /// The table.
    pub const fn row(self) -> RefusalRow {
        use RetryRule::*;
        match self {
            Refusal::InvalidFormat => row(
                "invalid_format",
                401,
                "the key is not in the issued format",
                Never,
            ),
            Refusal::NotFound => row("not_found", 401, "no such key", Never),
            Refusal::Disabled => row("disabled", 401, "the key is disabled", Never),
            Refusal::Expired => row("expired", 401, "the key has expired", Never),
            Refusal::PermissionDenied => row(
                "permission_denied",
                403,
                "the key may not use this service",
                Never,
            ),
            Refusal::ModelNotAllowed => row(
                "model_not_allowed",
                403,
                "the key may not use this model",
                Never,
            ),
            Refusal::ClientNotAllowed => row(
                "client_not_allowed",
                403,
                "the key may not be used from this client",
                Never,
            ),
            Refusal::IpNotAllowed => row(
                "ip_not_allowed",
                403,
                "the key may not be used from this address",
                Never,
            ),
            Refusal::DailyCostLimit => row(
                "daily_cost_limit",
                429,
                "the key has reached its daily cost limit",
                NextMidnight,
            ),
            Refusal::WeeklyCostLimit => row(
                "weekly_cost_limit",
                429,
                "the key has reached its weekly cost limit",
                NextWeeklyReset,
            ),
            Refusal::MonthlyCostLimit => row(
                "monthly_cost_limit",
                429,
                "the key has reached its monthly cost limit",
                NextMonthStart,
            ),
            Refusal::TotalCostLimit => row(
                "total_cost_limit",
                429,
                "the key has reached its total cost limit",
                Never,
            ),
            Refusal::WindowCostLimit => row(
                "window_cost_limit",
                429,
                "the key has reached its cost limit for this window",
                ScriptWait,
            ),
            Refusal::RateLimit => row(
                "rate_limit",
                429,
                "the key has used its requests for this window",
                ScriptWait,
            ),
            Refusal::TokenLimit => row(
                "token_limit",
                429,
                "the key has used its tokens for this window",
                ScriptWait,
            ),
            Refusal::ConcurrencyLimit => row(
                "concurrency_limit",
                429,
                "the key has too many requests in flight",
                ScriptWait,
            ),
        }
    }

    pub const fn code(self) -> &'static str {
        self.row().code
    }

    /// The refusal a verify script reply names by its code.
    pub fn from_code(code: &str) -> Option<Refusal> {
        Refusal::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Seconds until a retry can pass, by the refusal's rule: `script_wait_ms` is what the
    /// verify script said (rounded up to whole seconds, at least 1); daily limits wait for the
    /// next midnight in `zone`, weekly ones for the key's `week_reset` (day 1 = Monday, hour),
    /// monthly ones for the 1st.
    pub fn retry_after_secs(
        self,
        script_wait_ms: i64,
        week_reset: (u8, u8),
        zone: Zone,
        now: DateTime<Utc>,
    ) -> Option<u64> {
        let until = |at: DateTime<Utc>| Some((at - now).num_seconds().max(1) as u64);
        match self.row().retry {
            RetryRule::Never => None,
            RetryRule::ScriptWait => Some((script_wait_ms.max(1000) as u64).div_ceil(1000)),
            RetryRule::NextMidnight => until(zone.next_midnight(now)),
            RetryRule::NextWeeklyReset => {
                until(next_weekly_reset(zone, now, week_reset.0, week_reset.1))
            }
            RetryRule::NextMonthStart => until(next_month_start(zone, now)),
        }
    }
}

/// A refusal with the wait that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub refusal: Refusal,
    pub retry_after_secs: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_found_by_its_own_code_only() {
        for refusal in Refusal::ALL {
            assert_eq!(Refusal::from_code(refusal.code()), Some(refusal));
        }
        assert_eq!(Refusal::from_code("ok"), None);
        assert_eq!(Refusal::from_code(""), None);
    }

    #[test]
    fn waits_follow_each_refusals_rule() {
        let zone = Zone::parse("Asia/Shanghai").expect("zone");
        let now = DateTime::parse_from_rfc3339("2026-11-26T15:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let wait = |refusal: Refusal, ms| refusal.retry_after_secs(ms, (1, 0), zone, now);
        assert_eq!(wait(Refusal::Disabled, 5000), None);
        assert_eq!(wait(Refusal::RateLimit, 1), Some(1));
        assert_eq!(wait(Refusal::RateLimit, 1001), Some(2));
        assert_eq!(wait(Refusal::ConcurrencyLimit, 1000), Some(1));
        // Midnight in Shanghai is 16:00 UTC.
        assert_eq!(wait(Refusal::DailyCostLimit, 0), Some(3600));
        assert_eq!(wait(Refusal::TotalCostLimit, 0), None);
        assert_eq!(wait(Refusal::WindowCostLimit, 2500), Some(3));
        // Thursday 23:00 in Shanghai; next Monday 00:00 there is 3 days and 1 hour away.
        assert_eq!(wait(Refusal::WeeklyCostLimit, 0), Some((3 * 24 + 1) * 3600));
        // 1 December 00:00 in Shanghai is 2026-11-30T16:00Z.
        assert_eq!(
            wait(Refusal::MonthlyCostLimit, 0),
            Some((4 * 24 + 1) * 3600)
        );
    }
}
