//! The summary table: every figure beside its target, and the formatting it shares with the
//! soak report.

use std::ops::RangeInclusive;

use crate::latency::Latency;
use crate::machine::RedisGet;
use crate::memory::{mib, Memory};
use crate::seed::TOTAL_KEYS;
use crate::wrk::WrkRun;

// Targets the figures are compared with.
const TARGET_VERIFY_SHARE_PCT: f64 = 50.0;
const TARGET_USAGE_SHARE_PCT: f64 = 25.0;
const TARGET_USAGE_RPS: f64 = 20_000.0;
const TARGET_LIST_P99_MS: f64 = 20.0;
const TARGET_RSS_MIB: f64 = 64.0;

pub struct Setup {
    pub configuration: String,
    pub cpus: String,
    pub redis_version: String,
    pub redis_get_label: &'static str,
    pub wrk_shape: String,
    pub wrk_secs: u64,
    /// Whose memory the figures are, when there is more than one keyward.
    pub memory_of: Option<&'static str>,
}

pub fn memory_owner(instances: usize) -> Option<&'static str> {
    (instances > 1).then_some("keyward #1")
}

pub struct Figures {
    pub redis_get: RedisGet,
    pub verify_check: WrkRun,
    pub verify_admit: WrkRun,
    pub usage: WrkRun,
    pub list_page: Latency,
    pub search: Latency,
    pub deep_page: Latency,
    pub dashboard_page: Latency,
    pub memory: Memory,
    pub memory_with_dashboard: Memory,
}

/// One line of the summary: measure, throughput, p50, p99, share of Redis GET, target, met.
type Row = [String; 7];

pub fn print_summary(setup: &Setup, figures: &Figures) {
    let redis_rps = figures.redis_get.rps;
    let mut rows: Vec<Row> = vec![[
        "measure".into(),
        "result".into(),
        "p50".into(),
        "p99".into(),
        "vs Redis GET".into(),
        "target".into(),
        "met".into(),
    ]];
    rows.push([
        setup.redis_get_label.into(),
        per_sec(redis_rps),
        ms(figures.redis_get.p50_ms),
        ms(figures.redis_get.p99_ms),
        "100.0%".into(),
        "baseline".into(),
        String::new(),
    ]);
    let verify_target = format!("≥ {TARGET_VERIFY_SHARE_PCT:.0}% of Redis GET");
    for (measure, run) in [
        ("verify, check only", &figures.verify_check),
        ("verify, admission + window", &figures.verify_admit),
    ] {
        let share = share_pct(run.rps, redis_rps);
        rows.push(wrk_row(
            measure,
            run,
            redis_rps,
            &verify_target,
            share >= TARGET_VERIFY_SHARE_PCT,
        ));
    }
    let usage = &figures.usage;
    let usage_met =
        share_pct(usage.rps, redis_rps) >= TARGET_USAGE_SHARE_PCT && usage.rps >= TARGET_USAGE_RPS;
    rows.push(wrk_row(
        "record usage",
        usage,
        redis_rps,
        &format!(
            "≥ {TARGET_USAGE_SHARE_PCT:.0}% and ≥ {}/s",
            group_thousands(TARGET_USAGE_RPS)
        ),
        usage_met,
    ));
    for (measure, latency) in [
        ("list page 1 (10k keys)", &figures.list_page),
        ("search q=needle (10k keys)", &figures.search),
        ("page 100 by name (10k keys)", &figures.deep_page),
        (
            "dashboard /keys, 50 rows (10k keys)",
            &figures.dashboard_page,
        ),
    ] {
        rows.push([
            measure.into(),
            String::new(),
            ms(latency.p50_ms),
            ms(latency.p99_ms),
            String::new(),
            format!("p99 < {TARGET_LIST_P99_MS:.0} ms"),
            met(latency.p99_ms < TARGET_LIST_P99_MS).into(),
        ]);
    }
    let peak_mib = mib(figures.memory.peak_kib);
    let owner = setup.memory_of.unwrap_or("keyward");
    let with_dashboard = match setup.memory_of {
        None => "peak RSS incl. dashboard sign-in".to_string(),
        Some(owner) => format!("{owner} peak RSS incl. dashboard sign-in"),
    };
    let memory_rows = [
        (
            format!("{owner} peak RSS, API load (VmHWM)"),
            format!("{peak_mib:.1} MiB"),
            format!("< {TARGET_RSS_MIB:.0} MiB"),
            met(peak_mib < TARGET_RSS_MIB),
        ),
        (
            format!("{owner} RSS after API load (VmRSS)"),
            format!("{:.1} MiB", mib(figures.memory.current_kib)),
            String::new(),
            "",
        ),
        (
            with_dashboard,
            format!("{:.1} MiB", mib(figures.memory_with_dashboard.peak_kib)),
            "argon2id: 19 MiB per sign-in".into(),
            "",
        ),
    ];
    for (measure, value, target, verdict) in memory_rows {
        rows.push([
            measure,
            value,
            String::new(),
            String::new(),
            String::new(),
            target,
            verdict.into(),
        ]);
    }

    println!();
    println!(
        "keyward bench summary — nproc {}, redis-server {}, wrk {} × {} s, {TOTAL_KEYS} keys",
        setup.cpus, setup.redis_version, setup.wrk_shape, setup.wrk_secs
    );
    println!("configuration: {}", setup.configuration);
    print_table(&rows);
}

fn wrk_row(measure: &str, run: &WrkRun, redis_rps: f64, target: &str, met_target: bool) -> Row {
    // Throughput that includes refusals or errors measures the wrong thing.
    let verdict = if run.non_2xx > 0 {
        format!("invalid: {} non-2xx", run.non_2xx)
    } else {
        met(met_target).to_string()
    };
    [
        measure.into(),
        per_sec(run.rps),
        ms(run.p50_ms),
        ms(run.p99_ms),
        format!("{:.1}%", share_pct(run.rps, redis_rps)),
        target.into(),
        verdict,
    ]
}

fn print_table(rows: &[Row]) {
    // Numbers right-aligned, words left-aligned.
    print_columns(rows, 1..=4);
}

/// Prints rows as aligned columns; the `numeric` ones are right-aligned.
pub fn print_columns<const N: usize>(rows: &[[String; N]], numeric: RangeInclusive<usize>) {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                let pad = " ".repeat(width - cell.chars().count());
                if numeric.contains(&column) {
                    format!("{pad}{cell}")
                } else {
                    format!("{cell}{pad}")
                }
            })
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

fn share_pct(rps: f64, redis_rps: f64) -> f64 {
    if redis_rps > 0.0 {
        rps / redis_rps * 100.0
    } else {
        f64::NAN
    }
}

pub fn per_sec(rps: f64) -> String {
    format!("{}/s", group_thousands(rps))
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "not met"
    }
}

pub fn ms(value: f64) -> String {
    if value.is_nan() {
        "n/a".to_string()
    } else {
        format!("{value:.2} ms")
    }
}

/// `123456.7` → `123,457`, so throughput columns read at a glance.
pub fn group_thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}
