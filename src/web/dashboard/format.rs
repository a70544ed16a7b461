//! Display formatting for pages: the one money, token, count and time formatter every page and
//! the live JSON use, so a figure reads the same in tables, cards and charts.

use chrono::{DateTime, Duration, Timelike, Utc};

use crate::domain::money::NanoUsd;
use crate::domain::timezone::Zone;

const NANOS_PER_USD: u64 = 1_000_000_000;
const NANOS_PER_CENT: u64 = 10_000_000;
/// Amounts under a dollar keep this many significant digits (fractions of a cent matter there).
const SMALL_USD_SIGNIFICANT_DIGITS: u32 = 4;

/// Money: to the cent from $1 up (`$1,234.57`), four significant digits below (`$0.0372`,
/// `$0.50`, `$0.000001234`); integer arithmetic, rounding half up.
pub fn usd(amount: NanoUsd) -> String {
    let sign = if amount.nanos() < 0 { "-" } else { "" };
    let nanos = amount.nanos().unsigned_abs();
    if nanos == 0 {
        return "$0.00".into();
    }
    let digits = nanos.ilog10() + 1;
    if nanos < NANOS_PER_USD {
        let unit = 10u64.pow(digits.saturating_sub(SMALL_USD_SIGNIFICANT_DIGITS));
        let rounded = (nanos + unit / 2) / unit * unit;
        if rounded < NANOS_PER_USD {
            let fraction = format!("{rounded:09}");
            let trimmed = fraction.trim_end_matches('0');
            let shown = if trimmed.len() < 2 {
                &fraction[..2]
            } else {
                trimmed
            };
            return format!("{sign}$0.{shown}");
        }
    }
    let cents = (nanos + NANOS_PER_CENT / 2) / NANOS_PER_CENT;
    format!("{sign}${}.{:02}", count(cents / 100), cents % 100)
}

/// 1234567 → "1,234,567".
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Token counts, the same in every table and card: exact with separators up to 9,999, then
/// one decimal of k, M or B (`387.4k`, `1.2M`).
pub fn tokens(n: u64) -> String {
    if n < 10_000 {
        return count(n);
    }
    // Tenths of each unit, rounded half up; a value that rounds to 1000 moves up a unit.
    for (unit, suffix) in [(1_000u64, "k"), (1_000_000, "M")] {
        let tenths = (n + unit / 20) / (unit / 10);
        if tenths < 10_000 {
            return format!("{}.{}{suffix}", tenths / 10, tenths % 10);
        }
    }
    let unit = 1_000_000_000u64;
    let tenths = (n + unit / 20) / (unit / 10);
    format!("{}.{}B", count(tenths / 10), tenths % 10)
}

/// `1 key`, `2 keys`, `1,000 requests`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// A date and time in the configured zone, with the zone: `2026-11-28 01:23 CST`, `… +08:00`.
pub fn time(t: DateTime<Utc>, zone: Zone) -> String {
    local(t, zone, "%Y-%m-%d %H:%M %Z")
}

/// To the second, for events close together (the request log): `2026-11-28 01:23:45 CST`.
pub fn time_seconds(t: DateTime<Utc>, zone: Zone) -> String {
    local(t, zone, "%Y-%m-%d %H:%M:%S %Z")
}

/// The zone's name at `t` as the times show it: `CST`, `UTC`, `+08:00`.
pub fn zone_name(t: DateTime<Utc>, zone: Zone) -> String {
    local(t, zone, "%Z")
}

fn local(t: DateTime<Utc>, zone: Zone, pattern: &str) -> String {
    match zone {
        Zone::Named(tz) => t.with_timezone(&tz).format(pattern).to_string(),
        Zone::Fixed(offset) => t.with_timezone(&offset).format(pattern).to_string(),
    }
}

pub fn optional_time(t: Option<DateTime<Utc>>, zone: Zone, none: &str) -> String {
    t.map(|t| time(t, zone)).unwrap_or_else(|| none.to_string())
}

/// An expiry. One at a local midnight is the end of the day before (an expiry picked as a date
/// is stored as the start of the next day, so the key works through the whole picked day):
/// `end of 2026-11-01 CST`, never `2026-11-02 00:00`.
pub fn expiry(t: Option<DateTime<Utc>>, zone: Zone) -> String {
    let Some(t) = t else {
        return "never".into();
    };
    let at_midnight = match zone {
        Zone::Named(tz) => t.with_timezone(&tz).num_seconds_from_midnight() == 0,
        Zone::Fixed(offset) => t.with_timezone(&offset).num_seconds_from_midnight() == 0,
    };
    if at_midnight {
        let last_second = t - Duration::seconds(1);
        format!("end of {}", local(last_second, zone, "%Y-%m-%d %Z"))
    } else {
        time(t, zone)
    }
}

/// How long ago (or ahead) `t` is, in words: `just now`, `3 min ago`, `5 h ago`, `in 12 days`,
/// `4 months ago`, `in 3 years`.
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    const DAY: u64 = 86_400;
    let seconds = (now - t).num_seconds();
    let ahead = seconds < 0;
    let s = seconds.unsigned_abs();
    let amount = match s {
        0..=59 => return "just now".into(),
        60..=3_599 => format!("{} min", s / 60),
        3_600..=86_399 => format!("{} h", s / 3_600),
        _ if s < 60 * DAY => plural(s / DAY, "day", "days"),
        _ if s < 730 * DAY => plural(s / (30 * DAY), "month", "months"),
        _ => plural(s / (365 * DAY), "year", "years"),
    };
    if ahead {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

pub fn optional_relative(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map(|t| relative(t, now)).unwrap_or_default()
}

/// Seconds as m:ss or h:mm:ss (what the countdown script shows, so there is no jump).
pub fn countdown(seconds: Option<u64>) -> String {
    match seconds {
        None | Some(0) => "—".into(),
        Some(s) if s >= 3600 => format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60),
        Some(s) => format!("{}:{:02}", s / 60, s % 60),
    }
}

/// A window length in minutes, readable.
pub fn minutes(m: u64) -> String {
    match m {
        0 => "—".into(),
        m if m.is_multiple_of(1440) => format!("{} d", m / 1440),
        m if m.is_multiple_of(60) => format!("{} h", m / 60),
        m => format!("{m} min"),
    }
}

/// A share of a budget as text beside its bar, so the bar's colour is never the only signal;
/// past the limit it says so (`163%`) where the bar can only be full.
pub fn percent(ratio: f64) -> String {
    format!("{:.0}%", (ratio * 100.0).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid")
            .with_timezone(&Utc)
    }

    fn nanos(n: i64) -> NanoUsd {
        NanoUsd::from_nanos(n)
    }

    #[test]
    fn money_to_the_cent_above_a_dollar_and_four_digits_below() {
        assert_eq!(usd(nanos(0)), "$0.00");
        assert_eq!(usd(nanos(500_000_000)), "$0.50");
        assert_eq!(usd(nanos(37_200_000)), "$0.0372");
        assert_eq!(usd(nanos(123_456_789)), "$0.1235");
        assert_eq!(usd(nanos(1_234)), "$0.000001234");
        assert_eq!(usd(nanos(12_345)), "$0.00001235");
        assert_eq!(usd(nanos(999_960_000)), "$1.00");
        assert_eq!(usd(nanos(1_000_000_000)), "$1.00");
        assert_eq!(usd(nanos(12_345_000_000)), "$12.35");
        assert_eq!(usd(nanos(1_234_567_890_000)), "$1,234.57");
        assert_eq!(usd(nanos(-2_500_000_000)), "-$2.50");
    }

    #[test]
    fn counts_and_tokens() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(tokens(9_999), "9,999");
        assert_eq!(tokens(12_345), "12.3k");
        assert_eq!(tokens(387_412), "387.4k");
        assert_eq!(tokens(999_960), "1.0M");
        assert_eq!(tokens(1_250_000), "1.3M");
        assert_eq!(tokens(2_000_000_000), "2.0B");
        assert_eq!(plural(1, "key", "keys"), "1 key");
        assert_eq!(plural(0, "key", "keys"), "0 keys");
        assert_eq!(plural(1500, "request", "requests"), "1,500 requests");
    }

    #[test]
    fn times_carry_their_zone() {
        let shanghai = Zone::parse("Asia/Shanghai").expect("zone");
        let plus8 = Zone::parse("+08:00").expect("zone");
        let utc = Zone::parse("UTC").expect("zone");
        let t = at("2026-11-27T17:23:00Z");
        assert_eq!(time(t, shanghai), "2026-11-28 01:23 CST");
        assert_eq!(time(t, plus8), "2026-11-28 01:23 +08:00");
        assert_eq!(time(t, utc), "2026-11-27 17:23 UTC");
    }

    #[test]
    fn an_expiry_at_midnight_is_the_end_of_the_day_before() {
        let shanghai = Zone::parse("Asia/Shanghai").expect("zone");
        // The start of 2026-11-02 in Shanghai: what a picked 2026-11-01 is stored as.
        assert_eq!(
            expiry(Some(at("2026-11-01T16:00:00Z")), shanghai),
            "end of 2026-11-01 CST"
        );
        assert_eq!(
            expiry(Some(at("2026-11-01T16:30:00Z")), shanghai),
            "2026-11-02 00:30 CST"
        );
        assert_eq!(expiry(None, shanghai), "never");
    }

    #[test]
    fn relative_times() {
        let now = at("2026-11-28T12:00:00Z");
        assert_eq!(relative(at("2026-11-28T11:59:30Z"), now), "just now");
        assert_eq!(relative(at("2026-11-28T11:57:00Z"), now), "3 min ago");
        assert_eq!(relative(at("2026-11-28T07:00:00Z"), now), "5 h ago");
        assert_eq!(relative(at("2026-11-27T12:00:00Z"), now), "1 day ago");
        assert_eq!(relative(at("2026-12-10T12:00:00Z"), now), "in 12 days");
        assert_eq!(relative(at("2026-06-28T12:00:00Z"), now), "5 months ago");
        assert_eq!(relative(at("2099-11-01T16:00:00Z"), now), "in 72 years");
    }

    #[test]
    fn durations_and_shares() {
        assert_eq!(countdown(Some(125)), "2:05");
        assert_eq!(countdown(Some(3725)), "1:02:05");
        assert_eq!(countdown(None), "—");
        assert_eq!(minutes(60), "1 h");
        assert_eq!(minutes(90), "90 min");
        assert_eq!(percent(0.304), "30%");
        assert_eq!(percent(1.5), "150%");
    }
}
