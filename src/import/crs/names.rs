//! claude-relay-service's Redis key names: the ones this reader builds, and the parser that sorts
//! the names a SCAN returns into the ones that belong to an API key.

use std::fmt;

use chrono::NaiveDate;
use serde::{Serialize, Serializer};

pub const HASH_MAP: &str = "apikey:hash_map";
const KEY_PREFIX: &str = "apikey:";
const LEGACY_HASH_PREFIX: &str = "apikey_hash:";

pub fn key(id: &str) -> String {
    format!("{KEY_PREFIX}{id}")
}

pub fn legacy_hash(hash: &str) -> String {
    format!("{LEGACY_HASH_PREFIX}{hash}")
}

/// A calendar month as CRS names it (`YYYY-MM`, in its `TIMEZONE_OFFSET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    pub year: i32,
    pub month: u32,
}

impl YearMonth {
    pub fn parse(text: &str) -> Option<YearMonth> {
        let (year, month) = text.split_once('-')?;
        let digits =
            |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return None;
        }
        let month: u32 = month.parse().ok()?;
        (1..=12).contains(&month).then_some(YearMonth {
            year: year.parse().ok()?,
            month,
        })
    }

    pub fn of(date: NaiveDate) -> YearMonth {
        use chrono::Datelike;
        YearMonth {
            year: date.year(),
            month: date.month(),
        }
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Serialize for YearMonth {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An hour of a day as CRS names it (`YYYY-MM-DD:HH`, in its `TIMEZONE_OFFSET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateHour {
    pub date: NaiveDate,
    pub hour: u32,
}

impl DateHour {
    fn parse(date: &str, hour: &str) -> Option<DateHour> {
        let hour_ok = hour.len() == 2 && hour.bytes().all(|b| b.is_ascii_digit());
        let hour: u32 = if hour_ok {
            hour.parse().ok()?
        } else {
            return None;
        };
        (hour < 24).then_some(DateHour {
            date: parse_date(date)?,
            hour,
        })
    }
}

impl fmt::Display for DateHour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:02}", self.date, self.hour)
    }
}

impl Serialize for DateHour {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `YYYY-MM-DD` exactly (chrono alone would also take `2026-1-5`).
fn parse_date(text: &str) -> Option<NaiveDate> {
    let shape_ok = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shape_ok
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
}

/// What one Redis key name is, as far as API keys are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// `apikey:<id>`: the key's hash.
    Key { id: String },
    /// `apikey:hash_map`: hash of the secret → key id.
    HashMap,
    /// `apikey_hash:<hash>`: the older lookup, a hash with `id`, `name`, `isActive`.
    LegacyHash { hash: String },
    /// Usage, cost and rate-window counters of one key.
    Usage { id: String, kind: UsageName },
}

/// The per-key usage names; `String` values are `GET` strings, the rest hashes (or a list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageName {
    /// `usage:<id>`
    Total,
    /// `usage:daily:<id>:<date>`
    Daily(NaiveDate),
    /// `usage:monthly:<id>:<month>`
    Monthly(YearMonth),
    /// `usage:hourly:<id>:<date>:<HH>`
    Hourly(DateHour),
    /// `usage:<id>:model:daily:<model>:<date>`
    ModelDaily(String, NaiveDate),
    /// `usage:<id>:model:monthly:<model>:<month>`
    ModelMonthly(String, YearMonth),
    /// `usage:<id>:model:hourly:<model>:<date>:<HH>`
    ModelHourly(String, DateHour),
    /// `usage:<id>:model:alltime:<model>`
    ModelAlltime(String),
    /// `usage:records:<id>`: a list of JSON records, newest first.
    Records,
    /// `usage:cost:total:<id>` (string)
    CostTotal,
    /// `usage:cost:real:total:<id>` (string)
    CostRealTotal,
    /// `usage:cost:daily:<id>:<date>` (string)
    CostDaily(NaiveDate),
    /// `usage:cost:real:daily:<id>:<date>` (string)
    CostRealDaily(NaiveDate),
    /// `usage:cost:monthly:<id>:<month>` (string)
    CostMonthly(YearMonth),
    /// `usage:cost:hourly:<id>:<date>:<HH>` (string)
    CostHourly(DateHour),
    /// `usage:opus:total:<id>` (string)
    OpusTotal,
    /// `usage:opus:real:total:<id>` (string)
    OpusRealTotal,
    /// `usage:opus:weekly:<id>:<YYYY-MM-DDTHH>` (string)
    OpusWeekly(String),
    /// `usage:opus:real:weekly:<id>:<YYYY-MM-DDTHH>` (string)
    OpusRealWeekly(String),
    /// `rate_limit:window_start:<id>` (string, epoch ms)
    WindowStart,
    /// `rate_limit:requests:<id>` (string)
    WindowRequests,
    /// `rate_limit:tokens:<id>` (string)
    WindowTokens,
    /// `rate_limit:cost:<id>` (string)
    WindowCost,
}

impl UsageName {
    /// Whether the value is a plain string (`GET`), not a hash or a list.
    pub fn is_string(&self) -> bool {
        use UsageName::*;
        matches!(
            self,
            CostTotal
                | CostRealTotal
                | CostDaily(_)
                | CostRealDaily(_)
                | CostMonthly(_)
                | CostHourly(_)
                | OpusTotal
                | OpusRealTotal
                | OpusWeekly(_)
                | OpusRealWeekly(_)
                | WindowStart
                | WindowRequests
                | WindowTokens
                | WindowCost
        )
    }
}

/// A key id as CRS makes them (UUIDs); its names split on `:`, so an id never holds one.
fn id_ok(id: &str) -> bool {
    !id.is_empty() && !id.contains(':')
}

/// `YYYY-MM-DDTHH`: the start of a CRS Opus week (its `getPeriodString`).
fn period_ok(text: &str) -> bool {
    text.len() == 13
        && text.as_bytes()[10] == b'T'
        && DateHour::parse(&text[..10], &text[11..]).is_some()
}

/// Sorts one key name. `None` for everything that is not per-key data (accounts, sessions,
/// global and per-model totals, indexes such as `usage:daily:index:<date>` are recognised as
/// per-key shapes but are dropped later because `index` is no key's id).
pub fn parse(name: &str) -> Option<Name> {
    if name == HASH_MAP {
        return Some(Name::HashMap);
    }
    if let Some(hash) = name.strip_prefix(LEGACY_HASH_PREFIX) {
        return id_ok(hash).then(|| Name::LegacyHash {
            hash: hash.to_string(),
        });
    }
    if let Some(id) = name.strip_prefix(KEY_PREFIX) {
        // CRS's own rule (scanApiKeyIds): `apikey:<id>` with one colon, so the index keys
        // `apikey:idx:*`, `apikey:set:*`, `apikey:tags:all` … are not keys.
        return id_ok(id).then(|| Name::Key { id: id.to_string() });
    }
    if let Some(rest) = name.strip_prefix("rate_limit:") {
        let (counter, id) = rest.split_once(':')?;
        let kind = match counter {
            "window_start" => UsageName::WindowStart,
            "requests" => UsageName::WindowRequests,
            "tokens" => UsageName::WindowTokens,
            "cost" => UsageName::WindowCost,
            _ => return None,
        };
        return usage(id, kind);
    }
    let rest = name.strip_prefix("usage:")?;
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.as_slice() {
        [id] => usage(id, UsageName::Total),
        ["daily", id, date] => usage(id, UsageName::Daily(parse_date(date)?)),
        ["monthly", id, month] => usage(id, UsageName::Monthly(YearMonth::parse(month)?)),
        ["hourly", id, date, hour] => usage(id, UsageName::Hourly(DateHour::parse(date, hour)?)),
        ["records", id] => usage(id, UsageName::Records),
        ["cost", "total", id] => usage(id, UsageName::CostTotal),
        ["cost", "real", "total", id] => usage(id, UsageName::CostRealTotal),
        ["cost", "daily", id, date] => usage(id, UsageName::CostDaily(parse_date(date)?)),
        ["cost", "real", "daily", id, date] => {
            usage(id, UsageName::CostRealDaily(parse_date(date)?))
        }
        ["cost", "monthly", id, month] => {
            usage(id, UsageName::CostMonthly(YearMonth::parse(month)?))
        }
        ["cost", "hourly", id, date, hour] => {
            usage(id, UsageName::CostHourly(DateHour::parse(date, hour)?))
        }
        ["opus", "total", id] => usage(id, UsageName::OpusTotal),
        ["opus", "real", "total", id] => usage(id, UsageName::OpusRealTotal),
        // The period holds no colon (`2026-11-23T00`).
        ["opus", "weekly", id, period] if period_ok(period) => {
            usage(id, UsageName::OpusWeekly(period.to_string()))
        }
        ["opus", "real", "weekly", id, period] if period_ok(period) => {
            usage(id, UsageName::OpusRealWeekly(period.to_string()))
        }
        [id, "model", ..] => model_usage(id, rest),
        _ => None,
    }
}

/// `usage:<id>:model:<period>:<model>[:<date>[:<HH>]]`; a model name may hold colons, so the
/// date is taken from the right.
fn model_usage(id: &str, rest: &str) -> Option<Name> {
    let after_id = rest.strip_prefix(id)?.strip_prefix(":model:")?;
    let (period, tail) = after_id.split_once(':')?;
    let kind = match period {
        "alltime" => UsageName::ModelAlltime(model_name(tail)?),
        "daily" => {
            let (model, date) = tail.rsplit_once(':')?;
            UsageName::ModelDaily(model_name(model)?, parse_date(date)?)
        }
        "monthly" => {
            let (model, month) = tail.rsplit_once(':')?;
            UsageName::ModelMonthly(model_name(model)?, YearMonth::parse(month)?)
        }
        "hourly" => {
            let (model_and_date, hour) = tail.rsplit_once(':')?;
            let (model, date) = model_and_date.rsplit_once(':')?;
            UsageName::ModelHourly(model_name(model)?, DateHour::parse(date, hour)?)
        }
        _ => return None,
    };
    usage(id, kind)
}

fn model_name(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

fn usage(id: &str, kind: UsageName) -> Option<Name> {
    id_ok(id).then(|| Name::Usage {
        id: id.to_string(),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8fc5b6a2-447c-48ac-a245-b972be1377c5";

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    fn kind(name: &str) -> UsageName {
        match parse(name) {
            Some(Name::Usage { id, kind }) => {
                assert_eq!(id, ID, "{name}");
                kind
            }
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn key_hashes_and_lookups() {
        assert_eq!(
            parse(&format!("apikey:{ID}")),
            Some(Name::Key { id: ID.into() })
        );
        assert_eq!(parse("apikey:hash_map"), Some(Name::HashMap));
        assert_eq!(
            parse("apikey_hash:870aa3a0"),
            Some(Name::LegacyHash {
                hash: "870aa3a0".into()
            })
        );
        // CRS's own index keys are not keys.
        for name in [
            "apikey:idx:all",
            "apikey:set:active",
            "apikey:tags:all",
            "apikey:index:version",
            "apikey:tag:prod",
            "apikey:tmp:sorted:5b1c",
        ] {
            assert_eq!(parse(name), None, "{name}");
        }
    }

    #[test]
    fn every_usage_name_crs_writes_per_key() {
        let day = date("2026-11-24");
        let hour = DateHour {
            date: day,
            hour: 20,
        };
        let month = YearMonth {
            year: 2026,
            month: 11,
        };
        let sonnet = "claude-sonnet-4-20250514".to_string();
        let cases = [
            (format!("usage:{ID}"), UsageName::Total),
            (
                format!("usage:daily:{ID}:2026-11-24"),
                UsageName::Daily(day),
            ),
            (
                format!("usage:monthly:{ID}:2026-11"),
                UsageName::Monthly(month),
            ),
            (
                format!("usage:hourly:{ID}:2026-11-24:20"),
                UsageName::Hourly(hour),
            ),
            (
                format!("usage:{ID}:model:daily:{sonnet}:2026-11-24"),
                UsageName::ModelDaily(sonnet.clone(), day),
            ),
            (
                format!("usage:{ID}:model:monthly:{sonnet}:2026-11"),
                UsageName::ModelMonthly(sonnet.clone(), month),
            ),
            (
                format!("usage:{ID}:model:hourly:{sonnet}:2026-11-24:20"),
                UsageName::ModelHourly(sonnet.clone(), hour),
            ),
            (
                format!("usage:{ID}:model:alltime:{sonnet}"),
                UsageName::ModelAlltime(sonnet.clone()),
            ),
            (format!("usage:records:{ID}"), UsageName::Records),
            (format!("usage:cost:total:{ID}"), UsageName::CostTotal),
            (
                format!("usage:cost:real:total:{ID}"),
                UsageName::CostRealTotal,
            ),
            (
                format!("usage:cost:daily:{ID}:2026-11-24"),
                UsageName::CostDaily(day),
            ),
            (
                format!("usage:cost:real:daily:{ID}:2026-11-24"),
                UsageName::CostRealDaily(day),
            ),
            (
                format!("usage:cost:monthly:{ID}:2026-11"),
                UsageName::CostMonthly(month),
            ),
            (
                format!("usage:cost:hourly:{ID}:2026-11-24:20"),
                UsageName::CostHourly(hour),
            ),
            (format!("usage:opus:total:{ID}"), UsageName::OpusTotal),
            (
                format!("usage:opus:real:total:{ID}"),
                UsageName::OpusRealTotal,
            ),
            (
                format!("usage:opus:weekly:{ID}:2026-11-23T00"),
                UsageName::OpusWeekly("2026-11-23T00".into()),
            ),
            (
                format!("usage:opus:real:weekly:{ID}:2026-11-25T06"),
                UsageName::OpusRealWeekly("2026-11-25T06".into()),
            ),
            (
                format!("rate_limit:window_start:{ID}"),
                UsageName::WindowStart,
            ),
            (
                format!("rate_limit:requests:{ID}"),
                UsageName::WindowRequests,
            ),
            (format!("rate_limit:tokens:{ID}"), UsageName::WindowTokens),
            (format!("rate_limit:cost:{ID}"), UsageName::WindowCost),
        ];
        for (name, expected) in cases {
            assert_eq!(kind(&name), expected, "{name}");
        }
    }

    #[test]
    fn model_names_may_hold_colons() {
        assert_eq!(
            kind(&format!("usage:{ID}:model:daily:llama3:8b:2026-11-24")),
            UsageName::ModelDaily("llama3:8b".into(), date("2026-11-24"))
        );
        assert_eq!(
            kind(&format!("usage:{ID}:model:hourly:llama3:8b:2026-11-24:07")),
            UsageName::ModelHourly(
                "llama3:8b".into(),
                DateHour {
                    date: date("2026-11-24"),
                    hour: 7
                }
            )
        );
        assert_eq!(
            kind(&format!("usage:{ID}:model:alltime:llama3:8b")),
            UsageName::ModelAlltime("llama3:8b".into())
        );
    }

    #[test]
    fn global_and_account_names_are_not_key_usage() {
        for name in [
            "usage:global:total",
            "usage:global:daily:2026-11-24",
            "usage:model:daily:claude-sonnet-4-20250514:2026-11-24",
            "usage:model:monthly:months",
            "usage:keymodel:hourly:index:2026-11-24:20",
            "usage:daily:index:2026-11-24:empty",
            "account_usage:daily:acct-1:2026-11-24",
            "usage:daily:abc:2026-1-5",
            "usage:hourly:abc:2026-11-24:24",
            "usage:monthly:abc:2026-13",
            "usage:opus:weekly:abc:2026-W47",
            "rate_limit:other:abc",
            "session:abc",
        ] {
            let parsed = parse(name);
            // Index-shaped names parse with an id that no key has (`index`, `global`, …).
            let belongs_to_a_real_key = matches!(&parsed, Some(Name::Usage { id, .. }) if id == ID);
            assert!(!belongs_to_a_real_key, "{name}: {parsed:?}");
            if name.starts_with("account_usage")
                || name.contains("2026-1-5")
                || name.ends_with(":24")
                || name.ends_with("-13")
                || name.contains("W47")
                || name.starts_with("rate_limit:other")
                || name.starts_with("session")
            {
                assert_eq!(parsed, None, "{name}");
            }
        }
    }
}
