//! A claude-relay-service Redis built by claude-relay-service's own code (tests/crs/seed.js run
//! by Node against a copy of ../shared/crs-<release>), for the `keyward import crs` tests.
//!
//! Needs Node 18+ and the service's npm dependencies, which `.ci/setup` installs into
//! `target/crs-node/<release>/`. Without them [`seed`] prints why and returns `None`, and the
//! test returns early; with `KEYWARD_TEST_REQUIRE_CRS=1` it fails instead.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::app::keyward_command;
use super::RedisServer;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use tempfile::TempDir;

/// claude-relay-service's `ENCRYPTION_KEY` in the seeded installation (32 characters, as it asks).
pub const ENCRYPTION_KEY: &str = "crs-test-encryption-key-32-chars";
/// Its `TIMEZONE_OFFSET`: not its default (+8), and west of UTC, so a day boundary in it differs
/// from UTC's and from the default's.
pub const TIMEZONE_OFFSET_HOURS: i32 = -7;
const SEED_TIMEOUT: Duration = Duration::from_secs(120);

/// What the seed script made, as it printed it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seeded {
    pub timezone_offset: i32,
    pub encryption_key: String,
    pub keys: Vec<SeededKey>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeededKey {
    /// The seed's name for the case (`full`, `expired`, …); also the key's name.
    pub label: String,
    pub id: String,
    /// The plain secret (the current one for a regenerated key).
    pub api_key: String,
    /// A regenerated key's secret before the regenerate.
    #[serde(default)]
    pub replaced_api_key: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The options given to claude-relay-service's `generateApiKey`.
    pub options: Value,
    /// What was done to the key afterwards: `{"action", "at", "by"?}`.
    pub actions: Vec<Value>,
    pub usage: Vec<SeededUsage>,
}

impl SeededKey {
    /// When `action` (`activate`, `disable`, `delete`, `restore`, `regenerate`) was done.
    pub fn action_at(&self, action: &str) -> Option<DateTime<Utc>> {
        self.actions
            .iter()
            .find(|a| a["action"] == action)
            .and_then(|a| a["at"].as_str())
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&Utc))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeededUsage {
    pub at: DateTime<Utc>,
    pub model: String,
    pub account_type: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_create_tokens: u64,
    pub cache_read_tokens: u64,
    pub ephemeral_5m_tokens: u64,
    pub ephemeral_1h_tokens: u64,
    pub real_cost: f64,
    pub rated_cost: f64,
}

/// A single `redis-server` for the source installation, whatever `KEYWARD_TEST_REDIS` says:
/// claude-relay-service (one ioredis client) cannot run on a cluster. Killed when dropped.
pub struct SourceRedis {
    pub port: u16,
    _dir: TempDir,
    child: Child,
}

impl SourceRedis {
    pub fn start() -> SourceRedis {
        let port = super::free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new("redis-server")
            .arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let source = SourceRedis {
            port,
            _dir: dir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while source.cli(&["PING"]).trim() != "PONG" {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        source
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .arg("-p")
            .arg(self.port.to_string())
            .args(args)
            .output()
            .expect("redis-cli is installed");
        String::from_utf8_lossy(&output.stdout).to_string()
    }

    /// Every key with its type, serialized value and whether it has a TTL: equal before and
    /// after something means that something changed no data.
    pub fn contents(&self) -> Vec<(String, String, String, bool)> {
        let mut names: Vec<String> = self.cli(&["--scan"]).lines().map(str::to_string).collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let kind = self.cli(&["TYPE", &name]).trim().to_string();
                let dump = self.cli(&["DUMP", &name]);
                let expires = self.cli(&["PTTL", &name]).trim() != "-1";
                (name, kind, dump, expires)
            })
            .collect()
    }

    /// The commands this server ran since the last `CONFIG RESETSTAT` (as `INFO commandstats`
    /// names them, e.g. `hgetall`, `client|setinfo`).
    pub fn commands_run(&self) -> Vec<String> {
        self.cli(&["INFO", "commandstats"])
            .lines()
            .filter_map(|line| line.strip_prefix("cmdstat_"))
            .filter_map(|line| line.split_once(':').map(|(name, _)| name.to_string()))
            .collect()
    }
}

impl Drop for SourceRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn crs_source_dir() -> PathBuf {
    std::env::var_os("KEYWARD_CRS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("../shared/crs-1.1.314"))
}

/// Returns `None` after printing `reason`, or fails when the environment demands the CRS tests.
fn skip(reason: &str) -> Option<Seeded> {
    if std::env::var("KEYWARD_TEST_REQUIRE_CRS").is_ok_and(|v| v == "1") {
        panic!("KEYWARD_TEST_REQUIRE_CRS=1 but {reason}");
    }
    eprintln!("skipping this claude-relay-service import test: {reason}");
    None
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("readable dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// A working copy of claude-relay-service as its install steps make one: its source, its
/// `config/config.js` from the example, and the dependencies installed by `.ci/setup`.
fn working_copy(source: &Path, node_modules: &Path) -> TempDir {
    let copy = tempfile::tempdir().expect("temp dir");
    for dir in ["src", "config", "resources"] {
        copy_dir(&source.join(dir), &copy.path().join(dir));
    }
    for file in ["package.json", "VERSION"] {
        std::fs::copy(source.join(file), copy.path().join(file)).expect("copy file");
    }
    std::fs::copy(
        source.join("config/config.example.js"),
        copy.path().join("config/config.js"),
    )
    .expect("config.js");
    std::os::unix::fs::symlink(node_modules, copy.path().join("node_modules"))
        .expect("link node_modules");
    copy
}

/// Creates keys and usage in `redis` with claude-relay-service's own services (see
/// tests/crs/seed.js for what), or `None` (after saying why) when Node or its dependencies are
/// missing.
pub fn seed(redis: &SourceRedis) -> Option<Seeded> {
    let source = crs_source_dir();
    let Ok(version) = std::fs::read_to_string(source.join("VERSION")) else {
        return skip(&format!(
            "claude-relay-service's source is not at {}",
            source.display()
        ));
    };
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        return skip("`node` is not installed (Node 18 or newer runs claude-relay-service)");
    }
    let cache = std::env::var_os("KEYWARD_CRS_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("target/crs-node").join(version.trim()));
    if !cache.join(".installed").is_file() {
        return skip(&format!(
            "claude-relay-service's npm dependencies are not installed in {} (run .ci/setup)",
            cache.display()
        ));
    }
    let copy = working_copy(&source, &cache.join("node_modules"));
    let output_file = copy.path().join("seeded.json");
    // A file, not a pipe: a pipe nobody reads until the end could fill and stall the script.
    let stderr_file = copy.path().join("seed.stderr");
    let mut child = Command::new("node")
        .arg(crate_dir().join("tests/crs/seed.js"))
        .arg(copy.path())
        .arg(&output_file)
        .env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", redis.port.to_string())
        .env("REDIS_PASSWORD", "")
        .env("REDIS_DB", "0")
        .env("ENCRYPTION_KEY", ENCRYPTION_KEY)
        .env("JWT_SECRET", "crs-test-jwt-secret-crs-test-jwt-secret")
        .env("API_KEY_PREFIX", "cr_")
        .env("TIMEZONE_OFFSET", TIMEZONE_OFFSET_HOURS.to_string())
        .env("LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_file).expect("stderr file"))
        .spawn()
        .expect("node runs");
    let deadline = Instant::now() + SEED_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the seed script did not finish in {SEED_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
    assert!(status.success(), "the seed script failed: {stderr}");
    let text = std::fs::read_to_string(&output_file).expect("the seed script wrote its output");
    let seeded: Seeded = serde_json::from_str(&text).expect("the seed output parses");
    assert_eq!(seeded.timezone_offset, TIMEZONE_OFFSET_HOURS);
    Some(seeded)
}

/// How a `keyward` command ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `keyward import crs --from <from> <args>` with `keyward_redis` as keyward's own Redis.
pub fn import_crs(
    keyward_redis: &RedisServer,
    from: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> Run {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let output = keyward_command(&keyward_redis.url(), data_dir.path(), env)
        .args(["import", "crs", "--from", from])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("keyward runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).to_string(),
    }
}
