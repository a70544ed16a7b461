//! Gathering the usage, cost and rate-window values of one key into a [`CrsUsage`], without I/O.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::names::UsageName;
use super::values::{parse_count, parse_instant, parse_micro_usd, parse_money, shorten};
use super::{CrsUsage, CrsWindow, FieldProblem, ModelUsage, UsageCounts};
use crate::domain::money::NanoUsd;

/// The counters of a usage hash: (what it counts, the name CRS writes now, the older name).
/// CRS's reader takes the first one that is a non-zero number (`parseInt(a) || parseInt(b)`);
/// the all-time hash `usage:<id>` uses `total…` names, the period hashes the plain ones.
const COUNTERS: [(Counter, &str, &str); 12] = [
    (Counter::Requests, "totalRequests", "requests"),
    (Counter::Input, "totalInputTokens", "inputTokens"),
    (Counter::Output, "totalOutputTokens", "outputTokens"),
    (
        Counter::CacheCreate,
        "totalCacheCreateTokens",
        "cacheCreateTokens",
    ),
    (
        Counter::CacheRead,
        "totalCacheReadTokens",
        "cacheReadTokens",
    ),
    (Counter::All, "totalAllTokens", "allTokens"),
    (Counter::Core, "totalTokens", "tokens"),
    (
        Counter::Ephemeral5m,
        "totalEphemeral5mTokens",
        "ephemeral5mTokens",
    ),
    (
        Counter::Ephemeral1h,
        "totalEphemeral1hTokens",
        "ephemeral1hTokens",
    ),
    (
        Counter::LongContextInput,
        "totalLongContextInputTokens",
        "longContextInputTokens",
    ),
    (
        Counter::LongContextOutput,
        "totalLongContextOutputTokens",
        "longContextOutputTokens",
    ),
    (
        Counter::LongContextRequests,
        "totalLongContextRequests",
        "longContextRequests",
    ),
];

/// The per-model hashes also keep their cost, in integer micro-USD.
const MODEL_COSTS: [&str; 2] = ["realCostMicro", "ratedCostMicro"];

#[derive(Debug, Clone, Copy)]
enum Counter {
    Requests,
    Input,
    Output,
    CacheCreate,
    CacheRead,
    All,
    Core,
    Ephemeral5m,
    Ephemeral1h,
    LongContextInput,
    LongContextOutput,
    LongContextRequests,
}

impl UsageCounts {
    fn slot(&mut self, counter: Counter) -> &mut u64 {
        match counter {
            Counter::Requests => &mut self.requests,
            Counter::Input => &mut self.input_tokens,
            Counter::Output => &mut self.output_tokens,
            Counter::CacheCreate => &mut self.cache_create_tokens,
            Counter::CacheRead => &mut self.cache_read_tokens,
            Counter::All => &mut self.all_tokens,
            Counter::Core => &mut self.core_tokens,
            Counter::Ephemeral5m => &mut self.ephemeral_5m_tokens,
            Counter::Ephemeral1h => &mut self.ephemeral_1h_tokens,
            Counter::LongContextInput => &mut self.long_context_input_tokens,
            Counter::LongContextOutput => &mut self.long_context_output_tokens,
            Counter::LongContextRequests => &mut self.long_context_requests,
        }
    }
}

/// Collects the values read for one key; [`UsageReader::finish`] gives the [`CrsUsage`].
#[derive(Debug, Default)]
pub struct UsageReader {
    usage: CrsUsage,
    window_started_ms: Option<i64>,
    window_requests: Option<u64>,
    window_tokens: Option<u64>,
    window_cost: Option<NanoUsd>,
}

impl UsageReader {
    pub fn new() -> UsageReader {
        UsageReader::default()
    }

    fn problem(&mut self, field: String, message: String) {
        self.usage.problems.push(FieldProblem::new(field, message));
    }

    /// Reads the counters of one usage hash named `redis_key`.
    fn counts(&mut self, redis_key: &str, hash: &HashMap<String, String>) -> UsageCounts {
        let mut counts = UsageCounts::default();
        let mut fields: Vec<&String> = hash.keys().collect();
        fields.sort();
        for field in fields {
            let known = COUNTERS
                .iter()
                .any(|(_, current, older)| field == current || field == older)
                || MODEL_COSTS.contains(&field.as_str());
            if !known {
                self.problem(
                    format!("{redis_key}.{field}"),
                    "not a counter claude-relay-service 1.1.314 writes".into(),
                );
            }
        }
        for (counter, current, older) in COUNTERS {
            let mut value = 0;
            for name in [current, older] {
                let Some(text) = hash.get(name) else { continue };
                match parse_count(text) {
                    Ok(read) if value == 0 => value = read,
                    Ok(_) => {}
                    Err(message) => self.problem(format!("{redis_key}.{name}"), message),
                }
            }
            *counts.slot(counter) = value;
        }
        // As CRS's getUsageStats: without `allTokens`, all tokens are the four kinds added up.
        if counts.all_tokens == 0 {
            counts.all_tokens = [
                counts.input_tokens,
                counts.output_tokens,
                counts.cache_create_tokens,
                counts.cache_read_tokens,
            ]
            .iter()
            .fold(0_u64, |sum, n| sum.saturating_add(*n));
        }
        counts
    }

    fn model_usage(&mut self, redis_key: &str, hash: &HashMap<String, String>) -> ModelUsage {
        let counts = self.counts(redis_key, hash);
        let cost = |this: &mut Self, field: &str| match hash.get(field) {
            None => NanoUsd::ZERO,
            Some(text) => parse_micro_usd(text).unwrap_or_else(|message| {
                this.problem(format!("{redis_key}.{field}"), message);
                NanoUsd::ZERO
            }),
        };
        ModelUsage {
            counts,
            real_cost: cost(self, "realCostMicro"),
            rated_cost: cost(self, "ratedCostMicro"),
        }
    }

    /// A usage hash (`HGETALL` of a name whose kind is not a string).
    pub fn add_hash(&mut self, redis_key: &str, kind: &UsageName, hash: &HashMap<String, String>) {
        match kind {
            UsageName::Total => self.usage.total = self.counts(redis_key, hash),
            UsageName::Daily(date) => {
                let counts = self.counts(redis_key, hash);
                self.usage.daily.insert(*date, counts);
            }
            UsageName::Monthly(month) => {
                let counts = self.counts(redis_key, hash);
                self.usage.monthly.insert(*month, counts);
            }
            UsageName::Hourly(hour) => {
                let counts = self.counts(redis_key, hash);
                self.usage.hourly.insert(*hour, counts);
            }
            UsageName::ModelDaily(model, date) => {
                let usage = self.model_usage(redis_key, hash);
                self.usage
                    .model_daily
                    .entry(*date)
                    .or_default()
                    .insert(model.clone(), usage);
            }
            UsageName::ModelMonthly(model, month) => {
                let usage = self.model_usage(redis_key, hash);
                self.usage
                    .model_monthly
                    .entry(*month)
                    .or_default()
                    .insert(model.clone(), usage);
            }
            UsageName::ModelHourly(model, hour) => {
                let usage = self.model_usage(redis_key, hash);
                self.usage
                    .model_hourly
                    .entry(*hour)
                    .or_default()
                    .insert(model.clone(), usage);
            }
            UsageName::ModelAlltime(model) => {
                let usage = self.model_usage(redis_key, hash);
                self.usage.model_alltime.insert(model.clone(), usage);
            }
            other => self.problem(
                redis_key.to_string(),
                format!("read as a hash but {other:?} is not one"),
            ),
        }
    }

    /// A string counter (`GET`); `None` when it expired between the scan and the read.
    pub fn add_string(&mut self, redis_key: &str, kind: &UsageName, text: Option<&str>) {
        let Some(text) = text else { return };
        let money = |this: &mut Self| {
            parse_money(text).unwrap_or_else(|message| {
                this.problem(redis_key.to_string(), message);
                NanoUsd::ZERO
            })
        };
        match kind {
            UsageName::CostTotal => self.usage.costs.total = money(self),
            UsageName::CostRealTotal => self.usage.costs.real_total = money(self),
            UsageName::CostDaily(date) => {
                let amount = money(self);
                self.usage.costs.daily.insert(*date, amount);
            }
            UsageName::CostRealDaily(date) => {
                let amount = money(self);
                self.usage.costs.real_daily.insert(*date, amount);
            }
            UsageName::CostMonthly(month) => {
                let amount = money(self);
                self.usage.costs.monthly.insert(*month, amount);
            }
            UsageName::CostHourly(hour) => {
                let amount = money(self);
                self.usage.costs.hourly.insert(*hour, amount);
            }
            UsageName::OpusTotal => self.usage.costs.opus_total = money(self),
            UsageName::OpusRealTotal => self.usage.costs.opus_real_total = money(self),
            UsageName::OpusWeekly(period) => {
                let amount = money(self);
                self.usage.costs.opus_weekly.insert(period.clone(), amount);
            }
            UsageName::OpusRealWeekly(period) => {
                let amount = money(self);
                self.usage
                    .costs
                    .opus_real_weekly
                    .insert(period.clone(), amount);
            }
            UsageName::WindowStart => {
                match parse_count(text).ok().and_then(|ms| i64::try_from(ms).ok()) {
                    Some(ms) => self.window_started_ms = Some(ms),
                    None => self.problem(
                        redis_key.to_string(),
                        format!("`{}` is not epoch milliseconds", shorten(text)),
                    ),
                }
            }
            UsageName::WindowRequests => match parse_count(text) {
                Ok(n) => self.window_requests = Some(n),
                Err(message) => self.problem(redis_key.to_string(), message),
            },
            UsageName::WindowTokens => match parse_count(text) {
                Ok(n) => self.window_tokens = Some(n),
                Err(message) => self.problem(redis_key.to_string(), message),
            },
            UsageName::WindowCost => self.window_cost = Some(money(self)),
            other => self.problem(
                redis_key.to_string(),
                format!("read as a string but {other:?} is not one"),
            ),
        }
    }

    /// The newest entry of `usage:records:<id>` (`LINDEX 0`), for its `timestamp`.
    pub fn add_newest_record(&mut self, redis_key: &str, record: Option<&str>) {
        let Some(record) = record else { return };
        let timestamp = serde_json::from_str::<serde_json::Value>(record)
            .ok()
            .and_then(|value| value.get("timestamp")?.as_str().map(str::to_string));
        match timestamp.as_deref().map(parse_instant) {
            Some(Ok(at)) => self.usage.last_record_at = Some(at),
            _ => self.problem(
                format!("{redis_key}[0]"),
                "the newest record has no readable timestamp".into(),
            ),
        }
    }

    /// A Redis error on one name (e.g. a value of another type than CRS writes there).
    pub fn add_error(&mut self, redis_key: &str, message: String) {
        self.problem(redis_key.to_string(), message);
    }

    pub fn finish(mut self) -> CrsUsage {
        let any_window_counter = self.window_started_ms.is_some()
            || self.window_requests.is_some()
            || self.window_tokens.is_some()
            || self.window_cost.is_some();
        if any_window_counter {
            self.usage.window = Some(CrsWindow {
                started_at: self
                    .window_started_ms
                    .and_then(DateTime::<Utc>::from_timestamp_millis),
                requests: self.window_requests.unwrap_or(0),
                tokens: self.window_tokens.unwrap_or(0),
                cost: self.window_cost.unwrap_or(NanoUsd::ZERO),
            });
        }
        self.usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::crs::names::{parse, Name};

    const ID: &str = "8fc5b6a2-447c-48ac-a245-b972be1377c5";

    fn hash(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn kind(name: &str) -> UsageName {
        match parse(name) {
            Some(Name::Usage { kind, .. }) => kind,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn add_hash(reader: &mut UsageReader, name: &str, pairs: &[(&str, &str)]) {
        reader.add_hash(name, &kind(name), &hash(pairs));
    }

    fn add_string(reader: &mut UsageReader, name: &str, text: &str) {
        reader.add_string(name, &kind(name), Some(text));
    }

    #[test]
    fn counters_as_crs_wrote_them() {
        let mut reader = UsageReader::new();
        // HGETALL usage:<id> after six requests (CRS 1.1.314).
        add_hash(
            &mut reader,
            &format!("usage:{ID}"),
            &[
                ("totalTokens", "12220"),
                ("totalInputTokens", "7810"),
                ("totalOutputTokens", "4410"),
                ("totalCacheCreateTokens", "1700"),
                ("totalCacheReadTokens", "13000"),
                ("totalAllTokens", "26920"),
                ("totalEphemeral5mTokens", "700"),
                ("totalEphemeral1hTokens", "1000"),
                ("totalRequests", "6"),
            ],
        );
        add_hash(
            &mut reader,
            &format!("usage:daily:{ID}:2026-11-24"),
            &[
                ("tokens", "6650"),
                ("inputTokens", "3600"),
                ("outputTokens", "3050"),
                ("cacheCreateTokens", "1500"),
                ("cacheReadTokens", "4000"),
                ("allTokens", "12150"),
                ("requests", "3"),
                ("ephemeral5mTokens", "500"),
                ("ephemeral1hTokens", "1000"),
            ],
        );
        add_hash(
            &mut reader,
            &format!("usage:{ID}:model:alltime:gpt-5"),
            &[
                ("inputTokens", "900"),
                ("outputTokens", "2100"),
                ("cacheCreateTokens", "0"),
                ("cacheReadTokens", "0"),
                ("requests", "1"),
                ("ephemeral5mTokens", "0"),
                ("ephemeral1hTokens", "0"),
                ("realCostMicro", "22125"),
                ("ratedCostMicro", "17700"),
            ],
        );
        add_string(
            &mut reader,
            &format!("usage:cost:total:{ID}"),
            "0.27664249999999998",
        );
        add_string(
            &mut reader,
            &format!("usage:cost:real:total:{ID}"),
            "0.19514",
        );
        add_string(
            &mut reader,
            &format!("usage:cost:daily:{ID}:2026-11-24"),
            "0.22192249999999998",
        );
        add_string(
            &mut reader,
            &format!("usage:opus:weekly:{ID}:2026-11-18T06"),
            "0.20306249999999998",
        );
        reader.add_newest_record(
            &format!("usage:records:{ID}"),
            Some(r#"{"timestamp":"2026-11-27T18:46:59.290Z","model":"claude-sonnet-4-20250514","cost":0.000495}"#),
        );
        let usage = reader.finish();
        assert_eq!(usage.problems, vec![]);
        assert_eq!(
            usage.total,
            UsageCounts {
                requests: 6,
                input_tokens: 7810,
                output_tokens: 4410,
                cache_create_tokens: 1700,
                cache_read_tokens: 13000,
                all_tokens: 26920,
                core_tokens: 12220,
                ephemeral_5m_tokens: 700,
                ephemeral_1h_tokens: 1000,
                ..UsageCounts::default()
            }
        );
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).expect("date");
        assert_eq!(usage.daily[&day].requests, 3);
        assert_eq!(usage.daily[&day].all_tokens, 12150);
        let gpt5 = usage.model_alltime["gpt-5"];
        assert_eq!(gpt5.counts.all_tokens, 3000, "the four kinds added up");
        assert_eq!(gpt5.real_cost.nanos(), 22_125_000);
        assert_eq!(gpt5.rated_cost.nanos(), 17_700_000);
        assert_eq!(usage.costs.total.nanos(), 276_642_500);
        assert_eq!(usage.costs.real_total.nanos(), 195_140_000);
        assert_eq!(usage.costs.daily[&day].nanos(), 221_922_500);
        assert_eq!(
            usage.costs.opus_weekly["2026-11-18T06"].nanos(),
            203_062_500
        );
        assert_eq!(
            usage.last_record_at.map(|t| t.to_rfc3339()),
            Some("2026-11-27T18:46:59.290+00:00".into())
        );
        assert_eq!(usage.window, None);
    }

    #[test]
    fn older_counter_names_are_read_as_crs_reads_them() {
        let mut reader = UsageReader::new();
        // A total written before the `total…` names: CRS falls back to the plain ones.
        add_hash(
            &mut reader,
            &format!("usage:{ID}"),
            &[("tokens", "900"), ("requests", "4"), ("totalRequests", "0")],
        );
        let usage = reader.finish();
        assert_eq!(usage.problems, vec![]);
        assert_eq!(usage.total.requests, 4);
        assert_eq!(usage.total.core_tokens, 900);
        assert_eq!(usage.total.input_tokens, 0, "no split is invented");
    }

    #[test]
    fn a_running_rate_window() {
        let mut reader = UsageReader::new();
        add_string(
            &mut reader,
            &format!("rate_limit:window_start:{ID}"),
            "1795805219285",
        );
        add_string(&mut reader, &format!("rate_limit:requests:{ID}"), "7");
        add_string(&mut reader, &format!("rate_limit:tokens:{ID}"), "12000");
        add_string(&mut reader, &format!("rate_limit:cost:{ID}"), "0.75");
        let window = reader.finish().window.expect("a window");
        assert_eq!(window.requests, 7);
        assert_eq!(window.tokens, 12_000);
        assert_eq!(window.cost.nanos(), 750_000_000);
        assert_eq!(
            window.started_at.map(|t| t.timestamp_millis()),
            Some(1_795_805_219_285)
        );
    }

    #[test]
    fn unreadable_counters_are_named_with_their_redis_key() {
        let mut reader = UsageReader::new();
        let daily = format!("usage:daily:{ID}:2026-11-24");
        add_hash(
            &mut reader,
            &daily,
            &[("requests", "three"), ("mystery", "1")],
        );
        add_string(&mut reader, &format!("usage:cost:total:{ID}"), "lots");
        reader.add_newest_record(&format!("usage:records:{ID}"), Some("not json"));
        let usage = reader.finish();
        let named: Vec<&str> = usage.problems.iter().map(|p| p.field.as_str()).collect();
        assert!(
            named.contains(&format!("{daily}.requests").as_str()),
            "{named:?}"
        );
        assert!(
            named.contains(&format!("{daily}.mystery").as_str()),
            "{named:?}"
        );
        assert!(
            named.contains(&format!("usage:cost:total:{ID}").as_str()),
            "{named:?}"
        );
        assert!(
            named.contains(&format!("usage:records:{ID}[0]").as_str()),
            "{named:?}"
        );
    }
}
