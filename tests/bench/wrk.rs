//! Throughput of verify and usage under `wrk`: one wrk process per keyward instance, all at
//! once, with a Lua script carrying the request; the reports are parsed and combined.

use std::path::Path;

use serde_json::Value;

use crate::api::Api;
use crate::harness::SERVICE_TOKEN;
use crate::{BenchResult, Context};

/// Totals over all wrk processes; with several keyward instances they are split evenly.
const WRK_CONNECTIONS: u32 = 64;
const WRK_THREADS: u32 = 2;

pub struct WrkLoad<'a> {
    /// One wrk process per instance, all running at once.
    pub apis: &'a [Api],
    pub dir: &'a Path,
    pub secs: u64,
}

pub struct WrkRun {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
}

impl WrkLoad<'_> {
    pub async fn run(&self, name: &str, path: &str, body: &Value) -> BenchResult<WrkRun> {
        let urls: Vec<String> = self
            .apis
            .iter()
            .map(|api| format!("{}{path}", api.base_url))
            .collect();
        for (api, url) in self.apis.iter().zip(&urls) {
            api.probe(url, body).await?;
        }
        // Generated at run time so no secret is ever committed.
        let script = self.dir.join(format!("{name}.lua"));
        std::fs::write(&script, wrk_script(&body.to_string()))
            .context(format!("writing {}", script.display()))?;
        let (threads, connections) = wrk_split(self.apis.len());
        if self.apis.len() == 1 {
            println!(
                "wrk {name}: {threads} threads, {connections} connections, {} s ...",
                self.secs
            );
        } else {
            println!(
                "wrk {name}: {} processes at once, one per instance, each {} and {connections} connections, {} s ...",
                self.apis.len(),
                thread_count(threads),
                self.secs
            );
        }
        let reports = futures::future::try_join_all(
            urls.iter()
                .map(|url| self.run_one(name, url, &script, threads, connections)),
        )
        .await?;
        if reports.len() > 1 {
            for (at, (run, socket_errors)) in reports.iter().enumerate() {
                print_wrk_run(
                    &format!("{name} on instance #{}", at + 1),
                    run,
                    socket_errors,
                );
            }
        }
        let socket_errors: Vec<&str> = reports.iter().map(|(_, errors)| errors.as_str()).collect();
        let run = combine_wrk_runs(reports.iter().map(|(run, _)| run))
            .ok_or_else(|| format!("wrk {name} ran no process"))?;
        print_wrk_run(name, &run, &socket_errors.join(" / "));
        Ok(run)
    }

    /// One wrk process; returns its figures and its socket-error line.
    async fn run_one(
        &self,
        name: &str,
        url: &str,
        script: &Path,
        threads: u32,
        connections: u32,
    ) -> BenchResult<(WrkRun, String)> {
        let output = tokio::process::Command::new("wrk")
            .arg(format!("-t{threads}"))
            .arg(format!("-c{connections}"))
            .arg(format!("-d{}s", self.secs))
            .arg("--latency")
            .arg("-s")
            .arg(script)
            .arg(url)
            .kill_on_drop(true)
            .output()
            .await
            .context("running wrk")?;
        let report = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "wrk {name} failed ({}): {report}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let run =
            parse_wrk(&report).ok_or_else(|| format!("cannot read wrk's report:\n{report}"))?;
        let socket_errors = report
            .lines()
            .find_map(|line| line.trim().strip_prefix("Socket errors:"))
            .map_or_else(|| "none".to_string(), |rest| rest.trim().to_string());
        Ok((run, socket_errors))
    }
}

/// Threads and connections of each wrk process, so that all processes together make
/// `WRK_THREADS` threads and `WRK_CONNECTIONS` connections.
fn wrk_split(processes: usize) -> (u32, u32) {
    let processes = u32::try_from(processes).unwrap_or(u32::MAX).max(1);
    (
        (WRK_THREADS / processes).max(1),
        (WRK_CONNECTIONS / processes).max(1),
    )
}

/// How the load was shaped, for the summary's title.
pub fn wrk_shape(instances: usize) -> String {
    let (threads, connections) = wrk_split(instances);
    if instances == 1 {
        return format!("{threads} threads × {connections} connections");
    }
    format!(
        "{instances} × ({} × {connections} connections)",
        thread_count(threads)
    )
}

fn thread_count(threads: u32) -> String {
    match threads {
        1 => "1 thread".to_string(),
        n => format!("{n} threads"),
    }
}

/// Concurrent runs against several instances as one: throughput and refusals add up, the tail
/// is the worst of them, and the median is the first instance's (medians do not combine).
fn combine_wrk_runs<'a>(mut runs: impl Iterator<Item = &'a WrkRun>) -> Option<WrkRun> {
    let first = runs.next()?;
    let mut combined = WrkRun {
        rps: first.rps,
        p50_ms: first.p50_ms,
        p99_ms: first.p99_ms,
        non_2xx: first.non_2xx,
    };
    for run in runs {
        combined.rps += run.rps;
        combined.p99_ms = combined.p99_ms.max(run.p99_ms);
        combined.non_2xx += run.non_2xx;
    }
    Some(combined)
}

fn print_wrk_run(label: &str, run: &WrkRun, socket_errors: &str) {
    println!(
        "wrk {label}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, non-2xx {}, socket errors {socket_errors}",
        run.rps, run.p50_ms, run.p99_ms, run.non_2xx
    );
}

fn wrk_script(body: &str) -> String {
    // A Lua long bracket keeps JSON quotes and backslashes literal.
    format!(
        "wrk.method = \"POST\"\n\
         wrk.headers[\"Authorization\"] = \"Bearer {SERVICE_TOKEN}\"\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.body = [==[{body}]==]\n"
    )
}

fn parse_wrk(report: &str) -> Option<WrkRun> {
    let after = |prefix: &str| {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(prefix).map(str::trim))
    };
    let rps = after("Requests/sec:")?.parse().ok()?;
    let p50_ms = parse_wrk_duration_ms(after("50%")?)?;
    let p99_ms = parse_wrk_duration_ms(after("99%")?)?;
    let non_2xx = match after("Non-2xx or 3xx responses:") {
        None => 0,
        Some(count) => count.parse().ok()?,
    };
    Some(WrkRun {
        rps,
        p50_ms,
        p99_ms,
        non_2xx,
    })
}

/// wrk prints durations as `850.00us`, `1.23ms`, `2.00s` or `1.50m`.
fn parse_wrk_duration_ms(text: &str) -> Option<f64> {
    let units = [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)];
    units.iter().find_map(|(unit, to_ms)| {
        let number: f64 = text.strip_suffix(unit)?.parse().ok()?;
        Some(number * to_ms)
    })
}
