//! What the soak counted, the exactness checks against the key's totals, and the soak report.

use std::time::Duration;

use serde_json::Value;

use crate::config::keyward_instances;
use crate::latency::percentile;
use crate::memory::mib;
use crate::report::{group_thousands, ms, per_sec, print_columns};
use crate::soak::{
    SOAK_CACHE_READ_TOKENS, SOAK_CONCURRENCY_LIMIT, SOAK_INPUT_TOKENS, SOAK_MODEL,
    SOAK_OUTPUT_TOKENS, SOAK_WORKERS,
};
use crate::BenchResult;

/// claude-haiku-4-5 per token in nano-USD: $1, $5 and $0.10 per million tokens.
const HAIKU_INPUT_NANOS: u64 = 1_000;
const HAIKU_OUTPUT_NANOS: u64 = 5_000;
const HAIKU_CACHE_READ_NANOS: u64 = 100;
/// Errors are all counted; only the first few are kept to show what went wrong.
const SOAK_ERROR_SAMPLES: usize = 5;

/// Counts and latencies of one worker, or of all once merged.
#[derive(Default)]
pub struct SoakTally {
    pub admission_ms: Vec<f64>,
    pub usage_ms: Vec<f64>,
    pub list_ms: Vec<f64>,
    pub admissions_refused: u64,
    /// Usage calls answered 200: exactly what the key's totals must show.
    pub usage_recorded: u64,
    pub errors: u64,
    pub error_samples: Vec<String>,
}

impl SoakTally {
    pub fn error(&mut self, message: String) {
        self.errors += 1;
        if self.error_samples.len() < SOAK_ERROR_SAMPLES {
            self.error_samples.push(message);
        }
    }

    pub fn merge(&mut self, other: SoakTally) {
        self.admission_ms.extend(other.admission_ms);
        self.usage_ms.extend(other.usage_ms);
        self.list_ms.extend(other.list_ms);
        self.admissions_refused += other.admissions_refused;
        self.usage_recorded += other.usage_recorded;
        self.errors += other.errors;
        let room = SOAK_ERROR_SAMPLES.saturating_sub(self.error_samples.len());
        self.error_samples
            .extend(other.error_samples.into_iter().take(room));
    }

    pub fn sort_latencies(&mut self) {
        for samples in [
            &mut self.admission_ms,
            &mut self.usage_ms,
            &mut self.list_ms,
        ] {
            samples.sort_by(f64::total_cmp);
        }
    }
}

/// A figure of the soak key as keyward reports it, against what the soak acknowledged.
pub struct Check {
    field: &'static str,
    reported: Option<u64>,
    expected: u64,
}

impl Check {
    fn holds(&self) -> bool {
        self.reported == Some(self.expected)
    }
}

pub fn soak_checks(key: &Value, usage_recorded: u64) -> Vec<Check> {
    let nanos_per_call = SOAK_INPUT_TOKENS * HAIKU_INPUT_NANOS
        + SOAK_OUTPUT_TOKENS * HAIKU_OUTPUT_NANOS
        + SOAK_CACHE_READ_TOKENS * HAIKU_CACHE_READ_NANOS;
    let reported = |pointer: &str| key.pointer(pointer).and_then(Value::as_u64);
    vec![
        Check {
            field: "usage.total.requests",
            reported: reported("/usage/total/requests"),
            expected: usage_recorded,
        },
        Check {
            field: "usage.total.inputTokens",
            reported: reported("/usage/total/inputTokens"),
            expected: usage_recorded * SOAK_INPUT_TOKENS,
        },
        Check {
            field: "usage.total.costNanoUsd",
            reported: reported("/usage/total/costNanoUsd"),
            expected: usage_recorded * nanos_per_call,
        },
        // Every admitted request reported its usage, which released its lease.
        Check {
            field: "currentConcurrency",
            reported: reported("/currentConcurrency"),
            expected: 0,
        },
    ]
}

pub struct SoakReport {
    pub elapsed: Duration,
    pub instances: usize,
    pub tally: SoakTally,
    pub rss_before_kib: Vec<u64>,
    pub rss_after_kib: Vec<u64>,
    pub checks: Vec<Check>,
}

impl SoakReport {
    pub fn print(&self) {
        let secs = self.elapsed.as_secs_f64();
        let tally = &self.tally;
        println!();
        println!(
            "keyward soak — {secs:.1} s, {SOAK_WORKERS} workers over {}, key concurrency limit {SOAK_CONCURRENCY_LIMIT}, model {SOAK_MODEL}",
            keyward_instances(self.instances)
        );
        let mut rows: Vec<[String; 4]> = vec![[
            "kind".into(),
            "count".into(),
            "throughput".into(),
            "p99".into(),
        ]];
        for (kind, sorted_ms) in [
            ("admission (verify + lease)", &tally.admission_ms),
            ("usage (releases the lease)", &tally.usage_ms),
            ("admin key list, 50 per page", &tally.list_ms),
        ] {
            let count = sorted_ms.len() as f64;
            rows.push([
                kind.into(),
                group_thousands(count),
                per_sec(count / secs),
                ms(percentile(sorted_ms, 99.0)),
            ]);
        }
        print_columns(&rows, 1..=3);
        println!(
            "admissions refused with 429 (expected: limit {SOAK_CONCURRENCY_LIMIT} < {SOAK_WORKERS} workers): {}",
            group_thousands(tally.admissions_refused as f64)
        );
        println!("errors (transport or unexpected status): {}", tally.errors);
        for sample in &tally.error_samples {
            println!("  e.g. {sample}");
        }
        self.print_memory();
        println!(
            "exactness against the {} usage calls answered 200:",
            group_thousands(tally.usage_recorded as f64)
        );
        for check in &self.checks {
            let reported = check
                .reported
                .map_or_else(|| "missing".to_string(), |value| value.to_string());
            let verdict = if check.holds() { "OK" } else { "MISMATCH" };
            println!(
                "  {} = {reported} (expected {}): {verdict}",
                check.field, check.expected
            );
        }
    }

    fn print_memory(&self) {
        let several = self.rss_before_kib.len() > 1;
        for (at, (before, after)) in self
            .rss_before_kib
            .iter()
            .zip(&self.rss_after_kib)
            .enumerate()
        {
            let who = if several {
                format!("keyward #{}", at + 1)
            } else {
                "keyward".to_string()
            };
            println!(
                "{who} RSS (VmRSS): {:.1} MiB before the soak, {:.1} MiB after",
                mib(*before),
                mib(*after)
            );
        }
    }

    /// The soak fails the run on any error or any total that does not add up.
    pub fn verdict(&self) -> BenchResult<()> {
        let mismatches = self.checks.iter().filter(|check| !check.holds()).count();
        if mismatches == 0 && self.tally.errors == 0 {
            return Ok(());
        }
        Err(format!(
            "soak: {} errors, {mismatches} mismatched totals (see the soak report above)",
            self.tally.errors
        ))
    }
}
