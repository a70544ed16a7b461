//! Redis and keyward for the bench, started by the integration tests' harness
//! (`tests/api/support`), plus the tool checks and settings only the bench needs.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::config::RedisKind;
use crate::BenchResult;

// The bench uses only part of the tests' harness (no `TestApp`, no browser).
#[allow(dead_code)]
#[path = "../api/support/mod.rs"]
mod support;

pub use support::app::{Process, ADMIN_TOKEN, SERVICE_TOKEN};
pub use support::RedisServer;

/// The dashboard password of the bench's keyward; the tests' harness sets none.
pub const ADMIN_PASSWORD: &str = "bench-password-123";

/// Fails before anything starts, so a missing tool is not reported as a confusing spawn error.
pub fn require_tools() -> BenchResult<()> {
    if find_on_path("wrk").is_none() {
        return Err(
            "`wrk` is not on PATH; install it (Debian/Ubuntu: `apt-get install -y wrk`) and rerun"
                .to_string(),
        );
    }
    // The harness waits for every node with `redis-cli PING`, so it is needed for one server too.
    for tool in ["redis-server", "redis-benchmark", "redis-cli"] {
        if find_on_path(tool).is_none() {
            return Err(format!(
                "`{tool}` is not on PATH; install Redis (Debian/Ubuntu: `apt-get install -y redis-server redis-tools`)"
            ));
        }
    }
    Ok(())
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// One redis-server, or the harness's 3-master cluster; dropping it stops every node.
pub fn start_redis(kind: RedisKind) -> RedisServer {
    RedisServer::start_mode(kind == RedisKind::Cluster, &[])
}

pub fn describe_redis(kind: RedisKind, redis: &RedisServer) -> String {
    let ports = redis.ports();
    let addresses: Vec<String> = ports
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    match kind {
        RedisKind::Single => format!("redis-server listening on {}", addresses.join(", ")),
        RedisKind::Cluster => format!(
            "redis cluster ready: {} masters on {}",
            ports.len(),
            addresses.join(", ")
        ),
    }
}

/// The keyward executable the bench runs: this build's, or the one `BENCH_KEYWARD_BIN` names
/// (to compare builds with the same bench and reference in alternating runs).
pub fn keyward_program() -> PathBuf {
    std::env::var_os("BENCH_KEYWARD_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_keyward")),
        PathBuf::from,
    )
}

/// Starts `count` keyward processes on the same Redis and data directory, one after the other:
/// the first generates the encryption key file that the others then read. Each is killed when
/// dropped.
pub fn start_instances(redis_url: &str, data_dir: &Path, count: usize) -> Vec<Process> {
    let program = keyward_program();
    println!("keyward executable: {}", program.display());
    let mut instances = Vec::with_capacity(count);
    for _ in 0..count {
        let mut command = support::app::keyward_command_of(
            &program,
            redis_url,
            data_dir,
            &[
                ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
                // A sweep in the middle of a measurement would add noise.
                ("KEYWARD_EXPIRY_SWEEP_SECS", "0"),
            ],
        );
        // Measured with keyward's own Redis timeout, not the tests' more forgiving one.
        command
            .env_remove("KEYWARD_REDIS_TIMEOUT_MS")
            .stdin(Stdio::null());
        let keyward = Process::start_command(command);
        println!("keyward listening on {}", keyward.address);
        instances.push(keyward);
    }
    instances
}
