//! Cost budgets over longer periods (all time, a week, a calendar month, a rate window) and the
//! client-address allow-list: their parsing, and the forms the verify script compares.

use std::net::IpAddr;

use chrono::{DateTime, Datelike, Days, NaiveDate, Timelike, Utc};
use ipnet::IpNet;

use super::money::NanoUsd;
use super::timezone::Zone;
use super::FieldError;

/// A key's budgets beyond the daily one; 0 means none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyBudgets {
    pub total_cost_limit: NanoUsd,
    pub weekly_cost_limit: NanoUsd,
    /// 1 = Monday … 7 = Sunday, in the configured zone.
    pub weekly_reset_day: u8,
    /// 0–23, in the configured zone.
    pub weekly_reset_hour: u8,
    pub monthly_cost_limit: NanoUsd,
    /// USD per rate window (`rateLimitCost`).
    pub window_cost_limit: NanoUsd,
    /// Addresses and CIDR ranges in canonical form; empty = any address.
    pub allowed_ips: Vec<String>,
    /// `restrictedModels` lists the models denied (default) or the only ones allowed.
    pub model_mode: ModelRestrictionMode,
    pub expiration: ExpirationMode,
    /// Set by the first admission in activation mode.
    pub activated_at: Option<DateTime<Utc>>,
}

#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ModelRestrictionMode {
    #[default]
    Deny,
    Allow,
}

impl ModelRestrictionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelRestrictionMode::Deny => "deny",
            ModelRestrictionMode::Allow => "allow",
        }
    }
    pub fn parse(value: &str) -> Option<ModelRestrictionMode> {
        [Self::Deny, Self::Allow]
            .into_iter()
            .find(|m| m.as_str() == value)
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ActivationUnit {
    #[default]
    Days,
    Hours,
}

impl ActivationUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationUnit::Days => "days",
            ActivationUnit::Hours => "hours",
        }
    }
    pub fn parse(value: &str) -> Option<ActivationUnit> {
        [Self::Days, Self::Hours]
            .into_iter()
            .find(|u| u.as_str() == value)
    }
    pub fn millis(self) -> i64 {
        match self {
            ActivationUnit::Days => 86_400_000,
            ActivationUnit::Hours => 3_600_000,
        }
    }
}

/// When a key's validity starts: at a fixed `expiresAt`, or on its first admission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExpirationMode {
    #[default]
    Fixed,
    /// `expiresAt` = the first admission + `count` units.
    Activation { count: u32, unit: ActivationUnit },
}

impl ExpirationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpirationMode::Fixed => "fixed",
            ExpirationMode::Activation { .. } => "activation",
        }
    }
}

/// Longest activation period: ten years of days (or hours).
pub const MAX_ACTIVATION_COUNT: u32 = 3650;

pub const MAX_ALLOWED_IPS: usize = 100;

/// Parses `allowedIps`: each entry an IPv4/IPv6 address or CIDR range; kept in canonical text
/// (`10.0.0.0/8`, `2001:db8::/32`, a bare address as itself), deduplicated.
pub fn parse_allowed_ips(entries: Vec<String>) -> Result<Vec<String>, FieldError> {
    let mut parsed: Vec<String> = Vec::with_capacity(entries.len());
    for entry in entries {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let canonical = if entry.contains('/') {
            entry
                .parse::<IpNet>()
                .ok()
                .map(|net| net.trunc().to_string())
        } else {
            entry.parse::<IpAddr>().ok().map(|addr| addr.to_string())
        };
        let Some(canonical) = canonical else {
            return Err(FieldError::new(
                "allowedIps",
                format!("`{}` is not an IPv4/IPv6 address or CIDR range (like 10.0.0.0/8 or 2001:db8::/32)", entry.chars().take(60).collect::<String>()),
            ));
        };
        if !parsed.contains(&canonical) {
            parsed.push(canonical);
        }
    }
    if parsed.len() > MAX_ALLOWED_IPS {
        return Err(FieldError::new(
            "allowedIps",
            format!("at most {MAX_ALLOWED_IPS} entries"),
        ));
    }
    Ok(parsed)
}

/// An address as 32 hex digits of its IPv6 form (IPv4 mapped to `::ffff:a.b.c.d`), so the
/// verify script compares both families as one prefix of text.
pub fn address_hex(addr: IpAddr) -> String {
    let v6 = match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(v6, |v4| v4.to_ipv6_mapped()),
    };
    hex::encode(v6.octets())
}

/// The forms the verify script matches an `allowedIps` entry by: `<32 hex digits>/<prefix bits>`
/// over the IPv6 form (an IPv4 range's prefix grows by the 96 mapped bits).
pub fn allowed_ip_match_forms(entries: &[String]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|entry| {
            let net = entry
                .parse::<IpNet>()
                .ok()
                .or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))?;
            let prefix = match net {
                IpNet::V4(v4) => u32::from(v4.prefix_len()) + 96,
                IpNet::V6(v6) => u32::from(v6.prefix_len()),
            };
            Some(format!("{}/{prefix}", address_hex(net.network())))
        })
        .collect()
}

/// Parses a client address as verify receives it.
pub fn parse_client_ip(text: &str) -> Option<IpAddr> {
    text.trim().parse::<IpAddr>().ok()
}

/// A USD budget: 0–1,000,000, exact in nano-USD; a positive amount below one nano-USD is
/// refused (it would be stored as 0, which means "no limit").
pub fn parse_usd_limit(usd: f64, field: &'static str) -> Result<NanoUsd, FieldError> {
    let bad = || FieldError::new(field, "must be a number of USD from 0 to 1000000");
    if !usd.is_finite() || !(0.0..=1_000_000.0).contains(&usd) {
        return Err(bad());
    }
    let limit = NanoUsd::from_usd_f64(usd).ok_or_else(bad)?;
    if usd > 0.0 && limit == NanoUsd::ZERO {
        return Err(FieldError::new(
            field,
            "is too small to enforce: use 0 for no limit, or at least 0.000000001",
        ));
    }
    Ok(limit)
}

/// Milliseconds to add to a UTC instant to read the local wall clock in `zone` at `now`: the
/// verify and usage scripts find the week's bucket on the wall clock, so a reset at "Monday
/// 09:00" follows the zone's daylight saving changes.
pub fn local_offset_ms(zone: Zone, now: DateTime<Utc>) -> i64 {
    let local = zone.local_naive(now);
    (local.and_utc() - now).num_milliseconds()
}

/// The start of the week containing `local_ms` (a wall-clock time as ms since 1970 read as
/// UTC), by a reset on `day` (1 = Monday) at `hour`: the identity of the week's cost bucket.
/// verify.lua and record_usage.lua compute the same.
pub fn week_start_local_ms(local_ms: i64, day: u8, hour: u8) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    let days = local_ms.div_euclid(DAY_MS);
    let weekday = (days + 3).rem_euclid(7) + 1;
    let back = (weekday - i64::from(day)).rem_euclid(7);
    let mut reset = (days - back) * DAY_MS + i64::from(hour) * 3_600_000;
    if reset > local_ms {
        reset -= 7 * DAY_MS;
    }
    reset
}

/// The next weekly reset after `now`: the next `day` (1 = Monday) at `hour`:00 in `zone`.
pub fn next_weekly_reset(zone: Zone, now: DateTime<Utc>, day: u8, hour: u8) -> DateTime<Utc> {
    let local = zone.local_naive(now);
    let today = local.date();
    let weekday = today.weekday().number_from_monday() as i64;
    let mut ahead = (i64::from(day.clamp(1, 7)) - weekday).rem_euclid(7);
    if ahead == 0 && local.hour() >= u32::from(hour) {
        ahead = 7;
    }
    let date = today
        .checked_add_days(Days::new(ahead as u64))
        .unwrap_or(NaiveDate::MAX);
    zone.start_of(date)
        .map(|midnight| midnight + chrono::Duration::hours(i64::from(hour.min(23))))
        .unwrap_or(now + chrono::Duration::days(7))
}

/// The first instant of next calendar month in `zone`.
pub fn next_month_start(zone: Zone, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = zone.date_of(now);
    let (year, month) = if today.month() == 12 {
        (today.year() + 1, 1)
    } else {
        (today.year(), today.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|first| zone.start_of(first))
        .unwrap_or(now + chrono::Duration::days(31))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn addresses_and_ranges_are_canonical_and_bad_ones_named() {
        let parsed = parse_allowed_ips(vec![
            " 10.1.2.3/8 ".into(),
            "192.168.0.1".into(),
            "2001:DB8::1/32".into(),
            "10.0.0.0/8".into(),
        ])
        .expect("valid");
        assert_eq!(parsed, ["10.0.0.0/8", "192.168.0.1", "2001:db8::/32"]);
        for bad in [
            "10.0.0.256",
            "10.0.0.0/33",
            "2001:db8::/129",
            "example.com",
            "1.2.3",
        ] {
            assert_eq!(
                parse_allowed_ips(vec![bad.into()]).expect_err(bad).field,
                "allowedIps"
            );
        }
    }

    #[test]
    fn match_forms_put_both_families_on_one_prefix() {
        let forms = allowed_ip_match_forms(&["10.0.0.0/8".into(), "2001:db8::/32".into()]);
        assert_eq!(
            forms[0],
            format!("{}/104", "00000000000000000000ffff0a000000")
        );
        assert_eq!(
            forms[1],
            format!("{}/32", "20010db8000000000000000000000000")
        );
        assert_eq!(
            address_hex("10.9.8.7".parse().expect("ip")),
            "00000000000000000000ffff0a090807"
        );
    }

    #[test]
    fn weekly_resets_and_month_starts_follow_the_zone() {
        let zone = Zone::parse("America/New_York").expect("zone");
        // Sunday 2026-11-29 23:30 local (EST, -5) = Monday 04:30 UTC.
        let now = at("2026-11-30T04:30:00Z");
        // Next Monday 00:00 local is in 30 minutes.
        assert_eq!(
            next_weekly_reset(zone, now, 1, 0),
            at("2026-11-30T05:00:00Z")
        );
        // Sunday 22:00 local has passed: a week later.
        assert_eq!(
            next_weekly_reset(zone, now, 7, 22),
            at("2026-12-07T03:00:00Z")
        );
        assert_eq!(next_month_start(zone, now), at("2026-12-01T05:00:00Z"));
        assert_eq!(
            next_month_start(zone, at("2026-12-31T12:00:00Z")),
            at("2027-01-01T05:00:00Z")
        );
        assert_eq!(local_offset_ms(zone, now), -5 * 3_600_000);
        // Sunday 23:30 local: the Monday-00:00 week began six days ago, the Sunday-22:00 week
        // 90 minutes ago.
        let local = now.timestamp_millis() + local_offset_ms(zone, now);
        let local_ms = |s: &str| at(s).timestamp_millis();
        assert_eq!(
            week_start_local_ms(local, 1, 0),
            local_ms("2026-11-23T00:00:00Z")
        );
        assert_eq!(
            week_start_local_ms(local, 7, 22),
            local_ms("2026-11-29T22:00:00Z")
        );
    }
}
