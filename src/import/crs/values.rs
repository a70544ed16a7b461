//! Strict readers for the text values claude-relay-service stores (its numbers, booleans and
//! dates are all Redis strings). Each returns the reason a value is refused, for the report.

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::money::NanoUsd;

/// Digits a money value may carry before it can no longer be held exactly (`i128`).
const MAX_MONEY_DIGITS: usize = 36;
/// Nano-USD per micro-USD (CRS's per-model costs are integer micro-USD).
const NANOS_PER_MICRO: i64 = 1_000;

/// A USD amount as CRS writes it, into nano-USD, rounding half up at the ninth decimal.
///
/// CRS writes amounts three ways: `String(number)` from JavaScript for limits (`"12.5"`, and
/// `"1e-7"` below 1e-6), Redis `INCRBYFLOAT` results for cost counters (`"0.22192249999999998"`:
/// long-double digits, no exponent), and `number.toString()` when its start-up job rebuilds cost
/// counters. All are exact decimals, so they are read as text, never through a float.
pub fn parse_money(text: &str) -> Result<NanoUsd, String> {
    let refuse = || format!("`{}` is not a USD amount", shorten(text));
    let (mantissa_text, exponent) = match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => {
            let exponent: i32 = exponent
                .strip_prefix('+')
                .unwrap_or(exponent)
                .parse()
                .map_err(|_| refuse())?;
            (mantissa, exponent)
        }
        None => (text, 0),
    };
    if mantissa_text.starts_with('-') {
        return Err(format!("`{}` is negative", shorten(text)));
    }
    let (whole, fraction) = mantissa_text.split_once('.').unwrap_or((mantissa_text, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(refuse());
    }
    if mantissa_text.contains('.') && fraction.is_empty() {
        return Err(refuse());
    }
    let digits = format!("{whole}{fraction}");
    let significant = digits.trim_start_matches('0');
    if significant.len() > MAX_MONEY_DIGITS {
        return Err(format!("`{}` has too many digits", shorten(text)));
    }
    let mantissa: i128 = if significant.is_empty() {
        0
    } else {
        significant.parse().map_err(|_| refuse())?
    };
    // value = mantissa × 10^(exponent − fraction digits); nanos = value × 10^9.
    let fraction_digits = i32::try_from(fraction.len()).map_err(|_| refuse())?;
    let shift = exponent
        .checked_add(9)
        .and_then(|s| s.checked_sub(fraction_digits))
        .ok_or_else(refuse)?;
    let too_large = || format!("`{}` is too large", shorten(text));
    let nanos: i128 = if mantissa == 0 {
        0
    } else if shift >= 0 {
        let factor = 10_i128
            .checked_pow(shift.unsigned_abs())
            .ok_or_else(too_large)?;
        mantissa.checked_mul(factor).ok_or_else(too_large)?
    } else {
        match 10_i128.checked_pow(shift.unsigned_abs()) {
            // Half up: add half the divisor before truncating.
            Some(divisor) => (mantissa + divisor / 2) / divisor,
            // Smaller than any nano-USD.
            None => 0,
        }
    };
    i64::try_from(nanos)
        .map(NanoUsd::from_nanos)
        .map_err(|_| too_large())
}

/// A USD amount stored as integer micro-USD (`realCostMicro`, `ratedCostMicro`).
pub fn parse_micro_usd(text: &str) -> Result<NanoUsd, String> {
    let micros = parse_count(text)?;
    i64::try_from(micros)
        .ok()
        .and_then(|m| m.checked_mul(NANOS_PER_MICRO))
        .map(NanoUsd::from_nanos)
        .ok_or_else(|| format!("`{}` is too large", shorten(text)))
}

/// A non-negative integer (counters, limits, minutes).
pub fn parse_count(text: &str) -> Result<u64, String> {
    if text.starts_with('-') && text.len() > 1 && text[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{}` is negative", shorten(text)));
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{}` is not a whole number", shorten(text)));
    }
    text.parse()
        .map_err(|_| format!("`{}` is too large", shorten(text)))
}

/// `"true"` or `"false"`, as CRS writes `String(boolean)`.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("`{}` is neither true nor false", shorten(text))),
    }
}

/// An instant as CRS writes it: JavaScript's `toISOString()` (`2026-11-27T18:46:59.285Z`), or
/// whatever an admin sent for `expiresAt`, which JavaScript's `Date` also reads. Accepted: RFC
/// 3339 with an offset, and a bare date, which JavaScript reads as midnight UTC. A date-time
/// without an offset is refused: JavaScript reads it in the CRS server's local zone, unknown here.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if text.len() == 10 {
            if let Some(midnight) = date.and_hms_opt(0, 0, 0) {
                return Ok(midnight.and_utc());
            }
        }
    }
    if chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").is_ok()
        || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
    {
        return Err(format!(
            "`{}` has no time zone (claude-relay-service read it in its server's local time)",
            shorten(text)
        ));
    }
    Err(format!("`{}` is not a date and time", shorten(text)))
}

/// A JSON array of strings (`restrictedModels`, `allowedClients`, `tags`).
pub fn parse_string_list(text: &str) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| format!("`{}` is not JSON", shorten(text)))?;
    let serde_json::Value::Array(items) = value else {
        return Err(format!("`{}` is not a JSON list", shorten(text)));
    };
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::String(text) => Ok(text),
            other => Err(format!(
                "the list holds a non-string `{}`",
                shorten(&other.to_string())
            )),
        })
        .collect()
}

/// A value cut to a length that keeps a report line readable (icons are whole images).
pub fn shorten(text: &str) -> String {
    const SHOWN_CHARS: usize = 60;
    if text.chars().count() <= SHOWN_CHARS {
        return text.to_string();
    }
    let head: String = text.chars().take(SHOWN_CHARS).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(text: &str) -> i64 {
        parse_money(text).expect(text).nanos()
    }

    #[test]
    fn money_as_javascript_and_redis_write_it() {
        assert_eq!(nanos("0"), 0);
        assert_eq!(nanos("12.5"), 12_500_000_000);
        assert_eq!(nanos("300"), 300_000_000_000);
        // INCRBYFLOAT's long-double digits round half up at the ninth decimal.
        assert_eq!(nanos("0.22192249999999998"), 221_922_500);
        assert_eq!(nanos("0.27664249999999998"), 276_642_500);
        assert_eq!(nanos("0.000495"), 495_000);
        assert_eq!(nanos("0.0000000004"), 0);
        assert_eq!(nanos("0.0000000005"), 1);
        // JavaScript's String(number) below 1e-6 and above 1e21.
        assert_eq!(nanos("1e-7"), 100);
        assert_eq!(nanos("1.5e-7"), 150);
        assert_eq!(nanos("2.5E+2"), 250_000_000_000);
        assert_eq!(nanos("1e+3"), 1_000_000_000_000);
    }

    #[test]
    fn money_refuses_what_is_not_an_exact_amount() {
        for text in [
            "", "-1", "-0.5", "abc", "12abc", "1.", ".5", "NaN", "Infinity", "1e", "1e+",
        ] {
            assert!(parse_money(text).is_err(), "{text:?} must be refused");
        }
        assert!(parse_money("1e30").is_err(), "beyond i64 nano-USD");
        assert!(parse_money(&"9".repeat(40)).is_err());
        assert_eq!(nanos("1e-400"), 0);
    }

    #[test]
    fn micro_usd_counters() {
        assert_eq!(parse_micro_usd("22125").expect("valid").nanos(), 22_125_000);
        assert!(parse_micro_usd("1.5").is_err());
    }

    #[test]
    fn counts_are_whole_and_not_negative() {
        assert_eq!(parse_count("50000"), Ok(50_000));
        assert!(parse_count("-3")
            .expect_err("negative")
            .contains("negative"));
        for text in ["", "3.0", "1e3", " 3", "three"] {
            assert!(parse_count(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn booleans_are_the_two_words() {
        assert_eq!(parse_bool("true"), Ok(true));
        assert_eq!(parse_bool("false"), Ok(false));
        assert!(parse_bool("1").is_err());
        assert!(parse_bool("TRUE").is_err());
    }

    #[test]
    fn instants_as_javascript_reads_them() {
        let at = |text: &str| parse_instant(text).expect(text).to_rfc3339();
        assert_eq!(
            at("2026-11-27T18:46:59.285Z"),
            "2026-11-27T18:46:59.285+00:00"
        );
        assert_eq!(at("2026-12-31T08:00:00+08:00"), "2026-12-31T00:00:00+00:00");
        assert_eq!(at("2026-12-31"), "2026-12-31T00:00:00+00:00");
        let local = parse_instant("2026-12-31T23:59").expect_err("no zone");
        assert!(local.contains("no time zone"), "{local}");
        assert!(parse_instant("next tuesday").is_err());
        assert!(parse_instant("2026-13-01").is_err());
    }

    #[test]
    fn string_lists() {
        assert_eq!(
            parse_string_list(r#"["team-a","prod"]"#),
            Ok(vec!["team-a".to_string(), "prod".to_string()])
        );
        assert_eq!(parse_string_list("[]"), Ok(vec![]));
        assert!(parse_string_list("team-a,prod").is_err());
        assert!(parse_string_list(r#"{"a":1}"#).is_err());
        assert!(parse_string_list(r#"["a",2]"#).is_err());
    }

    #[test]
    fn long_values_are_shortened_for_the_report() {
        let icon = format!("data:image/png;base64,{}", "A".repeat(500));
        let shown = shorten(&icon);
        assert_eq!(shown.chars().count(), 61);
        assert!(shown.ends_with('…'));
    }
}
