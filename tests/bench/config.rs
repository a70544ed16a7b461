//! The bench's settings, read from `BENCH_*` environment variables and checked before anything
//! starts.

use crate::BenchResult;

const DEFAULT_WRK_SECS: u64 = 15;
const MAX_INSTANCES: usize = 2;
/// How many masters `BENCH_REDIS=cluster` starts (the test harness's cluster).
pub const CLUSTER_MASTERS: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RedisKind {
    Single,
    Cluster,
}

pub struct BenchConfig {
    pub wrk_secs: u64,
    pub redis: RedisKind,
    pub instances: usize,
    pub soak_secs: Option<u64>,
}

impl BenchConfig {
    pub fn from_env() -> BenchResult<Self> {
        Ok(BenchConfig {
            wrk_secs: env_secs("BENCH_SECS")?.unwrap_or(DEFAULT_WRK_SECS),
            redis: redis_kind()?,
            instances: instance_count()?,
            soak_secs: env_secs("BENCH_SOAK_SECS")?,
        })
    }

    pub fn describe(&self) -> String {
        let redis = match self.redis {
            RedisKind::Single => "single redis-server".to_string(),
            RedisKind::Cluster => format!("redis cluster ({CLUSTER_MASTERS} masters)"),
        };
        let instances = keyward_instances(self.instances);
        let soak = self
            .soak_secs
            .map_or_else(String::new, |secs| format!(", {secs} s soak"));
        format!("{redis}, {instances}{soak}")
    }
}

pub fn keyward_instances(count: usize) -> String {
    match count {
        1 => "1 keyward instance".to_string(),
        n => format!("{n} keyward instances"),
    }
}

/// A whole number of seconds above 0, or `None` when the variable is not set.
fn env_secs(name: &str) -> BenchResult<Option<u64>> {
    let Ok(text) = std::env::var(name) else {
        return Ok(None);
    };
    match text.trim().parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(Some(secs)),
        _ => Err(format!(
            "{name} must be a whole number of seconds above 0, got {text:?}"
        )),
    }
}

fn redis_kind() -> BenchResult<RedisKind> {
    let text = std::env::var("BENCH_REDIS").unwrap_or_default();
    match text.trim() {
        "" | "single" => Ok(RedisKind::Single),
        "cluster" => Ok(RedisKind::Cluster),
        _ => Err(format!(
            "BENCH_REDIS must be `single` or `cluster`, got {text:?}"
        )),
    }
}

fn instance_count() -> BenchResult<usize> {
    let Ok(text) = std::env::var("BENCH_INSTANCES") else {
        return Ok(1);
    };
    match text.trim().parse::<usize>() {
        Ok(count) if (1..=MAX_INSTANCES).contains(&count) => Ok(count),
        _ => Err(format!(
            "BENCH_INSTANCES must be between 1 and {MAX_INSTANCES}, got {text:?}"
        )),
    }
}
