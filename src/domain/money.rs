//! Money as integer nano-USD, so costs and limits add up exactly; floats appear only at the JSON/form edges.

use std::fmt;

/// Nano-USD per USD.
const NANOS_PER_USD: i64 = 1_000_000_000;
/// Digits after the decimal point that a nano-USD amount can carry.
const MAX_FRACTION_DIGITS: usize = 9;
/// Largest amount accepted from float input: far above any real limit, and well inside `i64` nano-USD
/// (about 9.2e9 USD), so the float-to-integer conversion can never saturate.
const MAX_USD_FROM_FLOAT: f64 = 1e9;

/// An amount of money in nano-USD (1e-9 USD). Signed so that differences (budget left) are representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NanoUsd(pub i64);

impl NanoUsd {
    pub const ZERO: NanoUsd = NanoUsd(0);

    pub fn from_nanos(nanos: i64) -> NanoUsd {
        NanoUsd(nanos)
    }

    pub fn nanos(self) -> i64 {
        self.0
    }

    /// For JSON output only: an f64 cannot hold every nano-USD amount exactly, so never compute with it.
    pub fn as_usd_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_USD as f64
    }

    /// Reads a USD amount typed into a form or sent as a JSON number (e.g. a daily limit of `12.5`).
    /// Rounds to the nearest nano-USD; `None` when not finite, negative, or above 1e9 USD.
    pub fn from_usd_f64(usd: f64) -> Option<NanoUsd> {
        // NaN fails every comparison and the infinities fall outside the range, so this covers them too.
        if !(0.0..=MAX_USD_FROM_FLOAT).contains(&usd) {
            return None;
        }
        // The bound above keeps the product below i64::MAX, so the cast is exact after rounding.
        Some(NanoUsd((usd * NANOS_PER_USD as f64).round() as i64))
    }

    /// Parses a plain decimal USD string such as `"0.30"`, `"18.75"` or `"3"` exactly, without floats.
    /// Accepts digits with an optional `.` and 1 to 9 fractional digits; no sign, exponent, or spaces.
    pub fn parse_usd_decimal(text: &str) -> Option<NanoUsd> {
        let (whole_text, fraction_text) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (text, ""),
        };
        let is_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if whole_text.is_empty() || !is_digits(whole_text) || !is_digits(fraction_text) {
            return None;
        }
        // "3." is more likely a typo than a deliberate amount, so a '.' must be followed by digits.
        if text.contains('.') && fraction_text.is_empty() {
            return None;
        }
        if fraction_text.len() > MAX_FRACTION_DIGITS {
            return None;
        }

        let whole_usd: i64 = whole_text.parse().ok()?;
        let fraction_nanos: i64 = if fraction_text.is_empty() {
            0
        } else {
            // Right-pad to nine digits so "5" after the point means 500_000_000 nanos.
            let padded = format!("{fraction_text:0<width$}", width = MAX_FRACTION_DIGITS);
            padded.parse().ok()?
        };
        whole_usd
            .checked_mul(NANOS_PER_USD)?
            .checked_add(fraction_nanos)
            .map(NanoUsd)
    }

    pub fn checked_add(self, other: NanoUsd) -> Option<NanoUsd> {
        self.0.checked_add(other.0).map(NanoUsd)
    }

    pub fn checked_sub(self, other: NanoUsd) -> Option<NanoUsd> {
        self.0.checked_sub(other.0).map(NanoUsd)
    }

    /// Multiplies by a count (tokens, requests); `None` when the result leaves the `i64` range.
    pub fn checked_mul_u64(self, count: u64) -> Option<NanoUsd> {
        let product = i128::from(self.0).checked_mul(i128::from(count))?;
        i64::try_from(product).ok().map(NanoUsd)
    }
}

// No `impl Add`: an operator would have to panic or saturate on overflow, and either would hide a
// billing error. Callers use `checked_add` and decide what overflow means for them.

impl fmt::Display for NanoUsd {
    /// USD with at least two decimals and as many more as needed to be exact: "1.50", "0.000001234".
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // unsigned_abs so that i64::MIN prints correctly instead of overflowing on negation.
        let magnitude_nanos = self.0.unsigned_abs();
        let nanos_per_usd = NANOS_PER_USD.unsigned_abs();
        let whole_usd = magnitude_nanos / nanos_per_usd;
        let fraction_nanos = magnitude_nanos % nanos_per_usd;

        let fraction_digits = format!("{fraction_nanos:09}");
        let significant = fraction_digits.trim_end_matches('0');
        let shown = if significant.len() < 2 {
            &fraction_digits[..2]
        } else {
            significant
        };
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(formatter, "{sign}{whole_usd}.{shown}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_and_accessors_round_trip() {
        assert_eq!(NanoUsd::ZERO, NanoUsd(0));
        assert_eq!(NanoUsd::default(), NanoUsd::ZERO);
        assert_eq!(NanoUsd::from_nanos(42).nanos(), 42);
        assert_eq!(NanoUsd::from_nanos(-7), NanoUsd(-7));
    }

    #[test]
    fn as_usd_f64_converts_for_output() {
        assert_eq!(NanoUsd(1_500_000_000).as_usd_f64(), 1.5);
        assert_eq!(NanoUsd(37_200_000).as_usd_f64(), 0.0372);
        assert_eq!(NanoUsd(-250_000_000).as_usd_f64(), -0.25);
        assert_eq!(NanoUsd::ZERO.as_usd_f64(), 0.0);
    }

    #[test]
    fn from_usd_f64_accepts_form_amounts() {
        assert_eq!(NanoUsd::from_usd_f64(12.5), Some(NanoUsd(12_500_000_000)));
        assert_eq!(NanoUsd::from_usd_f64(0.0), Some(NanoUsd::ZERO));
        assert_eq!(
            NanoUsd::from_usd_f64(1e9),
            Some(NanoUsd(1_000_000_000 * NANOS_PER_USD))
        );
        // 0.1 + 0.2 is 0.30000000000000004 as a float; rounding to nanos gives the intended 0.30.
        assert_eq!(NanoUsd::from_usd_f64(0.1 + 0.2), Some(NanoUsd(300_000_000)));
    }

    #[test]
    fn from_usd_f64_rounds_to_nearest_nano() {
        assert_eq!(NanoUsd::from_usd_f64(0.0000000014), Some(NanoUsd(1)));
        assert_eq!(NanoUsd::from_usd_f64(0.0000000016), Some(NanoUsd(2)));
    }

    #[test]
    fn from_usd_f64_rejects_invalid_amounts() {
        assert_eq!(NanoUsd::from_usd_f64(f64::NAN), None);
        assert_eq!(NanoUsd::from_usd_f64(f64::INFINITY), None);
        assert_eq!(NanoUsd::from_usd_f64(f64::NEG_INFINITY), None);
        assert_eq!(NanoUsd::from_usd_f64(-0.01), None);
        assert_eq!(NanoUsd::from_usd_f64(1e9 + 1.0), None);
    }

    #[test]
    fn parse_usd_decimal_reads_exact_amounts() {
        assert_eq!(
            NanoUsd::parse_usd_decimal("0.30"),
            Some(NanoUsd(300_000_000))
        );
        assert_eq!(
            NanoUsd::parse_usd_decimal("18.75"),
            Some(NanoUsd(18_750_000_000))
        );
        assert_eq!(
            NanoUsd::parse_usd_decimal("3"),
            Some(NanoUsd(3_000_000_000))
        );
        assert_eq!(NanoUsd::parse_usd_decimal("0"), Some(NanoUsd::ZERO));
        assert_eq!(NanoUsd::parse_usd_decimal("0.000000001"), Some(NanoUsd(1)));
        assert_eq!(
            NanoUsd::parse_usd_decimal("007.5"),
            Some(NanoUsd(7_500_000_000))
        );
        assert_eq!(
            NanoUsd::parse_usd_decimal("9223372036.854775807"),
            Some(NanoUsd(i64::MAX))
        );
    }

    #[test]
    fn parse_usd_decimal_rejects_anything_but_plain_decimals() {
        for text in [
            "", ".", "3.", ".5", "-1", "+1", "1e3", "1.2.3", " 1", "1 ", "1,5", "abc", "0x10",
            "1_000", "NaN", "inf",
        ] {
            assert_eq!(
                NanoUsd::parse_usd_decimal(text),
                None,
                "{text:?} should be rejected"
            );
        }
    }

    #[test]
    fn parse_usd_decimal_rejects_sub_nano_precision_and_overflow() {
        assert_eq!(NanoUsd::parse_usd_decimal("0.0000000001"), None);
        assert_eq!(NanoUsd::parse_usd_decimal("9223372036.854775808"), None);
        assert_eq!(NanoUsd::parse_usd_decimal("99999999999999999999"), None);
    }

    #[test]
    fn checked_add_and_sub_detect_overflow() {
        assert_eq!(NanoUsd(2).checked_add(NanoUsd(3)), Some(NanoUsd(5)));
        assert_eq!(NanoUsd(i64::MAX).checked_add(NanoUsd(1)), None);
        assert_eq!(NanoUsd(2).checked_sub(NanoUsd(3)), Some(NanoUsd(-1)));
        assert_eq!(NanoUsd(i64::MIN).checked_sub(NanoUsd(1)), None);
    }

    #[test]
    fn checked_mul_u64_detects_overflow() {
        assert_eq!(
            NanoUsd(3_000).checked_mul_u64(1_000),
            Some(NanoUsd(3_000_000))
        );
        assert_eq!(NanoUsd(-2).checked_mul_u64(3), Some(NanoUsd(-6)));
        assert_eq!(NanoUsd(5).checked_mul_u64(0), Some(NanoUsd::ZERO));
        assert_eq!(NanoUsd(2).checked_mul_u64(u64::MAX), None);
        assert_eq!(
            NanoUsd(1).checked_mul_u64(i64::MAX as u64),
            Some(NanoUsd(i64::MAX))
        );
        assert_eq!(NanoUsd(1).checked_mul_u64(i64::MAX as u64 + 1), None);
    }

    #[test]
    fn display_shows_at_least_two_decimals_and_no_more_than_needed() {
        assert_eq!(NanoUsd(1_500_000_000).to_string(), "1.50");
        assert_eq!(NanoUsd(1_234).to_string(), "0.000001234");
        assert_eq!(NanoUsd(0).to_string(), "0.00");
        assert_eq!(NanoUsd(3_000_000_000).to_string(), "3.00");
        assert_eq!(NanoUsd(37_200_000).to_string(), "0.0372");
        assert_eq!(NanoUsd(18_750_000_000).to_string(), "18.75");
        assert_eq!(NanoUsd(100_000_000).to_string(), "0.10");
        assert_eq!(NanoUsd(1).to_string(), "0.000000001");
    }

    #[test]
    fn display_prints_negative_values_with_a_leading_minus() {
        assert_eq!(NanoUsd(-1_500_000_000).to_string(), "-1.50");
        assert_eq!(NanoUsd(-1).to_string(), "-0.000000001");
        assert_eq!(NanoUsd(i64::MIN).to_string(), "-9223372036.854775808");
        assert_eq!(NanoUsd(i64::MAX).to_string(), "9223372036.854775807");
    }

    #[test]
    fn display_output_parses_back_to_the_same_amount() {
        for nanos in [0, 1, 1_234, 300_000_000, 18_750_000_000, i64::MAX] {
            let text = NanoUsd(nanos).to_string();
            assert_eq!(
                NanoUsd::parse_usd_decimal(&text),
                Some(NanoUsd(nanos)),
                "{text}"
            );
        }
    }
}
