//! The zone that decides when "today" starts for daily costs and charts.

use chrono::{DateTime, Days, FixedOffset, NaiveDate, TimeZone, Utc};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Named(chrono_tz::Tz),
    Fixed(FixedOffset),
}

impl Zone {
    /// Accepts an IANA name (`Asia/Shanghai`, `UTC`) or an offset (`+08:00`, `-0530`).
    pub fn parse(value: &str) -> Result<Zone, String> {
        let value = value.trim();
        if value.starts_with('+') || value.starts_with('-') {
            let digits: String = value[1..].chars().filter(|c| *c != ':').collect();
            let valid = digits.len() == 4 && digits.chars().all(|c| c.is_ascii_digit());
            let (hours, minutes) = if valid {
                (
                    digits[..2].parse::<i32>().unwrap_or(99),
                    digits[2..].parse::<i32>().unwrap_or(99),
                )
            } else {
                (99, 99)
            };
            if hours > 14 || minutes > 59 {
                return Err(format!("`{value}` is not an offset like +08:00"));
            }
            let seconds =
                (hours * 3600 + minutes * 60) * if value.starts_with('-') { -1 } else { 1 };
            return FixedOffset::east_opt(seconds)
                .map(Zone::Fixed)
                .ok_or_else(|| format!("`{value}` is out of range"));
        }
        value
            .parse::<chrono_tz::Tz>()
            .map(Zone::Named)
            .map_err(|_| format!("`{value}` is not an IANA time zone or an offset like +08:00"))
    }

    /// The calendar date at `now` in this zone.
    pub fn date_of(&self, now: DateTime<Utc>) -> NaiveDate {
        match self {
            Zone::Named(tz) => now.with_timezone(tz).date_naive(),
            Zone::Fixed(offset) => now.with_timezone(offset).date_naive(),
        }
    }

    /// The wall-clock time at `now` in this zone.
    pub fn local_naive(&self, now: DateTime<Utc>) -> chrono::NaiveDateTime {
        match self {
            Zone::Named(tz) => now.with_timezone(tz).naive_local(),
            Zone::Fixed(offset) => now.with_timezone(offset).naive_local(),
        }
    }

    /// The instant the day after `now`'s local date begins (for `Retry-After` on daily limits).
    pub fn next_midnight(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let tomorrow = self
            .date_of(now)
            .checked_add_days(Days::new(1))
            .unwrap_or(NaiveDate::MAX);
        // A zone whose midnight is skipped by a DST jump: fall back to a day from now.
        self.start_of(tomorrow)
            .unwrap_or(now + chrono::Duration::days(1))
    }

    /// The instant `date` begins in this zone.
    pub fn start_of(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let midnight = date.and_hms_opt(0, 0, 0)?;
        match self {
            Zone::Named(tz) => tz
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
            Zone::Fixed(offset) => offset
                .from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Zone::Named(tz) => write!(f, "{}", tz.name()),
            Zone::Fixed(offset) => write!(f, "{offset}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn day_boundary_follows_the_zone() {
        let shanghai = Zone::parse("Asia/Shanghai").expect("valid");
        // 15:59:59 UTC is 23:59:59 in Shanghai; one second later it is the next day there.
        assert_eq!(
            shanghai.date_of(at("2026-11-26T15:59:59Z")).to_string(),
            "2026-11-26"
        );
        assert_eq!(
            shanghai.date_of(at("2026-11-26T16:00:00Z")).to_string(),
            "2026-11-27"
        );
        let utc = Zone::parse("UTC").expect("valid");
        assert_eq!(
            utc.date_of(at("2026-11-26T16:00:00Z")).to_string(),
            "2026-11-26"
        );
    }

    #[test]
    fn fixed_offsets() {
        let west = Zone::parse("-05:30").expect("valid");
        assert_eq!(
            west.date_of(at("2026-11-27T05:29:59Z")).to_string(),
            "2026-11-26"
        );
        assert_eq!(
            west.date_of(at("2026-11-27T05:30:00Z")).to_string(),
            "2026-11-27"
        );
        assert!(Zone::parse("+0800").is_ok());
        assert!(Zone::parse("+25:00").is_err());
        assert!(Zone::parse("+8").is_err());
        assert!(Zone::parse("Nowhere/City").is_err());
    }

    #[test]
    fn next_midnight_is_local() {
        let shanghai = Zone::parse("Asia/Shanghai").expect("valid");
        assert_eq!(
            shanghai.next_midnight(at("2026-11-26T15:00:00Z")),
            at("2026-11-26T16:00:00Z")
        );
        let ny = Zone::parse("America/New_York").expect("valid");
        // Across the DST change (8 March 2026) the offset moves from -5 to -4.
        assert_eq!(
            ny.next_midnight(at("2026-03-08T12:00:00Z")),
            at("2026-03-09T04:00:00Z")
        );
    }
}
