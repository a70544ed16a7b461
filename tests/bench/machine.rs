//! The baseline and the facts the summary is read against: raw Redis GET throughput
//! (`redis-benchmark`), the Redis version and the number of CPUs.

use std::process::Command;

use crate::config::RedisKind;
use crate::harness::RedisServer;
use crate::{BenchResult, Context};

pub struct RedisGet {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub async fn redis_get_benchmark(kind: RedisKind, redis: &RedisServer) -> BenchResult<RedisGet> {
    let port = *redis.ports().first().ok_or("redis has no port")?;
    // A cluster run spreads its keys over the masters it discovers from the first one.
    let cluster: &[&str] = match kind {
        RedisKind::Single => &[],
        RedisKind::Cluster => &["--cluster"],
    };
    let shown = cluster
        .iter()
        .map(|flag| format!("{flag} "))
        .collect::<String>();
    println!("running redis-benchmark {shown}-t get -c 64 -n 300000 ...");
    let output = tokio::process::Command::new("redis-benchmark")
        .args(cluster)
        .args(["-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["-c", "64", "-n", "300000", "-t", "get", "--csv"])
        .output()
        .await
        .context("running redis-benchmark")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "redis-benchmark failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse_redis_csv(&stdout).ok_or_else(|| format!("cannot read redis-benchmark's CSV:\n{stdout}"))
}

/// Reads the GET row by column name, since the CSV's columns differ between Redis versions.
/// With `--cluster` the CSV follows a plain-text list of the masters.
fn parse_redis_csv(csv: &str) -> Option<RedisGet> {
    let split = |line: &str| -> Vec<String> {
        line.split(',')
            .map(|cell| cell.trim().trim_matches('"').to_string())
            .collect()
    };
    let mut lines = csv.lines().skip_while(|line| !line.starts_with("\"test\""));
    let header = split(lines.next()?);
    let row = split(lines.find(|line| line.starts_with("\"GET\""))?);
    let column = |name: &str| -> Option<f64> {
        let at = header.iter().position(|h| h == name)?;
        row.get(at)?.parse().ok()
    };
    Some(RedisGet {
        rps: column("rps")?,
        p50_ms: column("p50_latency_ms").unwrap_or(f64::NAN),
        p99_ms: column("p99_latency_ms").unwrap_or(f64::NAN),
    })
}

/// The baseline's row title in the summary.
pub fn benchmark_label(kind: RedisKind) -> &'static str {
    match kind {
        RedisKind::Single => "Redis GET (redis-benchmark)",
        RedisKind::Cluster => "Redis GET (redis-benchmark --cluster)",
    }
}

pub fn redis_version() -> String {
    let Ok(output) = Command::new("redis-server").arg("--version").output() else {
        return "unknown".to_string();
    };
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .map_or_else(|| text.trim().to_string(), str::to_string)
}

pub fn cpu_count() -> String {
    let from_nproc = Command::new("nproc")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string());
    from_nproc.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or_else(|_| "?".to_string(), |n| n.to_string())
    })
}
