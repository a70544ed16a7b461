//! Display formatting for pages: money, counts, times, durations.

use chrono::{DateTime, Utc};

use crate::domain::money::NanoUsd;
use crate::domain::timezone::Zone;

pub fn usd(amount: NanoUsd) -> String {
    format!("${amount}")
}

/// A money amount rounded for tables: cents, or four decimals under a dollar.
pub fn usd_short(amount: NanoUsd) -> String {
    let usd = amount.as_usd_f64();
    if usd == 0.0 {
        "$0.00".into()
    } else if usd.abs() < 1.0 {
        format!("${usd:.4}")
    } else {
        format!("${usd:.2}")
    }
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

/// Large counts in short form for dense cells: 1.2k, 3.4M.
pub fn count_short(n: u64) -> String {
    match n {
        0..=9_999 => count(n),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}B", n as f64 / 1e9),
    }
}

pub fn time(t: DateTime<Utc>, zone: Zone) -> String {
    match zone {
        Zone::Named(tz) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        Zone::Fixed(offset) => t
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
    }
}

pub fn optional_time(t: Option<DateTime<Utc>>, zone: Zone, none: &str) -> String {
    t.map(|t| time(t, zone)).unwrap_or_else(|| none.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count_short(12_345), "12.3k");
        assert_eq!(countdown(Some(125)), "2:05");
        assert_eq!(countdown(Some(3725)), "1:02:05");
        assert_eq!(countdown(None), "—");
        assert_eq!(minutes(60), "1 h");
        assert_eq!(minutes(90), "90 min");
        assert_eq!(usd_short(NanoUsd::from_nanos(37_200_000)), "$0.0372");
        assert_eq!(usd_short(NanoUsd::from_nanos(12_345_000_000)), "$12.35");
    }
}
