//! End-to-end benchmark: keyward's relay and admin APIs against a Redis of its own, compared with
//! raw Redis. Prints figures and targets; never asserts timing (`cargo bench --bench keyward`).
//!
//! `BENCH_REDIS=cluster` runs on a 3-master Redis Cluster, `BENCH_INSTANCES=2` runs two keyward
//! processes on the same Redis, and `BENCH_SOAK_SECS=N` adds a bounded soak whose usage totals
//! must match exactly what was acknowledged (the only part that fails the run).

use std::fmt::Display;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

type BenchResult<T> = Result<T, String>;

/// Adds what was being done to an error, so a failure reads as a sentence.
trait Context<T> {
    fn context(self, doing: impl Display) -> BenchResult<T>;
}

impl<T, E: Display> Context<T> for Result<T, E> {
    fn context(self, doing: impl Display) -> BenchResult<T> {
        self.map_err(|e| format!("{doing}: {e}"))
    }
}

const SERVICE_TOKEN: &str = "bench-service-token";
const ADMIN_TOKEN: &str = "bench-admin-token";
const ADMIN_PASSWORD: &str = "bench-password-123";
const MODEL: &str = "claude-sonnet-4-5";
const TOTAL_KEYS: usize = 10_000;
const SEED_IN_FLIGHT: usize = 32;
/// Every this-many seeded key carries the search word, so a search matches ~1% of keys.
const NEEDLE_EVERY: usize = 100;
const NEEDLE: &str = "needle";
const NAME_WORDS: [&str; 8] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];
const TAGS: [&str; 5] = ["prod", "staging", "dev", "research", "ops"];
/// Totals over all wrk processes; with several keyward instances they are split evenly.
const WRK_CONNECTIONS: u32 = 64;
const WRK_THREADS: u32 = 2;
const DEFAULT_WRK_SECS: u64 = 15;
const LATENCY_WARMUP: usize = 20;
const LATENCY_SAMPLES: usize = 200;
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const CLUSTER_MASTERS: usize = 3;
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_INSTANCES: usize = 2;

// Targets the figures are compared with.
const TARGET_VERIFY_SHARE_PCT: f64 = 50.0;
const TARGET_USAGE_SHARE_PCT: f64 = 25.0;
const TARGET_USAGE_RPS: f64 = 20_000.0;
const TARGET_LIST_P99_MS: f64 = 20.0;
const TARGET_RSS_MIB: f64 = 64.0;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bench failed: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench failed: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> BenchResult<()> {
    let config = BenchConfig::from_env()?;
    require_tools(config.redis)?;
    println!("configuration: {}", config.describe());
    // Declared first so it is removed last, after all servers are gone.
    let scratch = tempfile::tempdir().context("creating a temporary directory")?;

    let redis = Redis::start(config.redis, &scratch.path().join("redis"))?;
    println!("{}", redis.describe());
    let redis_get = redis_get_benchmark(&redis).await?;
    println!(
        "redis-benchmark GET: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms",
        redis_get.rps, redis_get.p50_ms, redis_get.p99_ms
    );

    let instances = start_instances(&redis.url(), &scratch.path().join("data"), config.instances)?;
    let apis = instances
        .iter()
        .map(|keyward| Api::new(&keyward.base_url))
        .collect::<BenchResult<Vec<Api>>>()?;
    let first = instances.first().ok_or("no keyward instance started")?;
    let wrk_dir = scratch.path().join("wrk");
    std::fs::create_dir_all(&wrk_dir).context("creating the wrk script directory")?;
    let load = WrkLoad {
        apis: &apis,
        dir: &wrk_dir,
        secs: config.wrk_secs,
    };

    let figures = measure(&load, first.child.id(), redis_get).await?;
    let setup = Setup {
        configuration: config.describe(),
        cpus: cpu_count(),
        redis_version: redis_version(),
        redis_get_label: redis.benchmark_label(),
        wrk_shape: wrk_shape(config.instances),
        wrk_secs: config.wrk_secs,
        memory_of: memory_owner(config.instances),
    };
    print_summary(&setup, &figures);

    if let Some(soak_secs) = config.soak_secs {
        let pids: Vec<u32> = instances.iter().map(|keyward| keyward.child.id()).collect();
        let report = soak(&apis, &pids, soak_secs).await?;
        report.print();
        report.verdict()?;
    }
    Ok(())
}

/// Seeds the keys and takes every figure of the summary; all but the wrk runs go to the first
/// instance (`keyward_pid` is its process, for memory).
async fn measure(
    load: &WrkLoad<'_>,
    keyward_pid: u32,
    redis_get: RedisGet,
) -> BenchResult<Figures> {
    let api = load.apis.first().ok_or("no keyward instance to measure")?;
    let key_a = api.create_key(&json!({"name": "bench-check"})).await?;
    let key_b = api
        .create_key(&json!({
            "name": "bench-window",
            "rateLimitWindow": 60,
            "rateLimitRequests": 1_000_000_000u64,
            "concurrencyLimit": 0,
        }))
        .await?;
    let seeding = seed_keys(api, TOTAL_KEYS - 2).await?;
    println!(
        "seeded {} keys in {:.1} s ({:.0} keys/s, {SEED_IN_FLIGHT} in flight)",
        TOTAL_KEYS - 2,
        seeding.as_secs_f64(),
        (TOTAL_KEYS - 2) as f64 / seeding.as_secs_f64()
    );

    let verify_path = "/api/v1/keys/verify";
    let check_body = verify_body(&key_a.secret, false);
    let admit_body = verify_body(&key_b.secret, true);
    let usage_body = json!({
        "keyId": key_b.id,
        "accountId": "bench-account",
        "model": MODEL,
        "usage": {
            "input_tokens": 100,
            "output_tokens": 50,
            "cache_creation_input_tokens": 20,
            "cache_read_input_tokens": 30,
        },
    });
    let verify_check = load.run("verify-check", verify_path, &check_body).await?;
    let verify_admit = load.run("verify-admit", verify_path, &admit_body).await?;
    let usage = load.run("usage", "/api/v1/usage", &usage_body).await?;

    let list_page = api.list_latency("list page 1", "page=1&perPage=50").await?;
    let search = api
        .list_latency("search q=needle", &format!("page=1&perPage=50&q={NEEDLE}"))
        .await?;
    let deep_page = api
        .list_latency(
            "page 100 by name",
            "page=100&perPage=50&sort=name&order=asc",
        )
        .await?;

    // Memory of the API workload, then after the dashboard phase: a sign-in hashes with
    // argon2id at its default 19 MiB memory cost, which shows in the peak on its own.
    let memory = read_memory(keyward_pid)?;
    let dashboard_page = dashboard_latency(&api.base_url).await?;
    let memory_with_dashboard = read_memory(keyward_pid)?;
    Ok(Figures {
        redis_get,
        verify_check,
        verify_admit,
        usage,
        list_page,
        search,
        deep_page,
        dashboard_page,
        memory,
        memory_with_dashboard,
    })
}

// ---------------------------------------------------------------------------------------------
// Configuration from the environment

#[derive(Clone, Copy, PartialEq, Eq)]
enum RedisKind {
    Single,
    Cluster,
}

struct BenchConfig {
    wrk_secs: u64,
    redis: RedisKind,
    instances: usize,
    soak_secs: Option<u64>,
}

impl BenchConfig {
    fn from_env() -> BenchResult<Self> {
        Ok(BenchConfig {
            wrk_secs: env_secs("BENCH_SECS")?.unwrap_or(DEFAULT_WRK_SECS),
            redis: redis_kind()?,
            instances: instance_count()?,
            soak_secs: env_secs("BENCH_SOAK_SECS")?,
        })
    }

    fn describe(&self) -> String {
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

fn keyward_instances(count: usize) -> String {
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

// ---------------------------------------------------------------------------------------------
// Tools, ports, child processes

/// Fails before anything starts, so a missing tool is not reported as a confusing spawn error.
fn require_tools(redis: RedisKind) -> BenchResult<()> {
    if find_on_path("wrk").is_none() {
        return Err(
            "`wrk` is not on PATH; install it (Debian/Ubuntu: `apt-get install -y wrk`) and rerun"
                .to_string(),
        );
    }
    let cluster_tool = (redis == RedisKind::Cluster).then_some("redis-cli");
    for tool in ["redis-server", "redis-benchmark"]
        .into_iter()
        .chain(cluster_tool)
    {
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

/// Asks the OS for a free port. Another process could take it before the server binds it,
/// which is unlikely enough on a bench machine.
fn free_port() -> BenchResult<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    let port = listener
        .local_addr()
        .context("reading the free port")?
        .port();
    Ok(port)
}

/// Cluster nodes need a free port and a free bus port 10000 above it. Both are picked below the
/// OS's ephemeral range (32768 and up), so outgoing connections cannot take them meanwhile.
const CLUSTER_PORTS: std::ops::Range<u16> = 15_000..22_768;
const CLUSTER_BUS_OFFSET: u16 = 10_000;

fn free_cluster_ports(count: usize) -> BenchResult<Vec<u16>> {
    let span = CLUSTER_PORTS.end - CLUSTER_PORTS.start;
    // Start somewhere different each run, so concurrent runs rarely probe the same ports.
    let offset = u16::try_from(std::process::id() % u32::from(span)).unwrap_or(0);
    let ports: Vec<u16> = (0..span)
        .map(|step| CLUSTER_PORTS.start + (offset + step) % span)
        .filter(|port| port_is_free(*port) && port_is_free(port + CLUSTER_BUS_OFFSET))
        .take(count)
        .collect();
    if ports.len() < count {
        return Err(format!(
            "found only {} of {count} free port pairs P and P+{CLUSTER_BUS_OFFSET} in {CLUSTER_PORTS:?}",
            ports.len()
        ));
    }
    Ok(ports)
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Kills its child when dropped, so servers never outlive the bench, even on an error path.
struct ChildGuard {
    name: &'static str,
    child: Child,
}

impl ChildGuard {
    fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Err(e) = self.child.kill() {
            // Already exited is fine; anything else is worth a note.
            if e.kind() != std::io::ErrorKind::InvalidInput {
                eprintln!("could not stop {}: {e}", self.name);
            }
        }
        // Reap it so no zombie is left behind.
        let _ = self.child.wait();
    }
}

/// The Redis keyward runs on: one server, or the masters of a cluster. Dropping it stops them.
struct Redis {
    kind: RedisKind,
    ports: Vec<u16>,
    _servers: Vec<ChildGuard>,
}

impl Redis {
    fn start(kind: RedisKind, dir: &Path) -> BenchResult<Self> {
        let ports = match kind {
            RedisKind::Single => vec![free_port()?],
            RedisKind::Cluster => free_cluster_ports(CLUSTER_MASTERS)?,
        };
        let servers = ports
            .iter()
            .map(|port| start_redis(*port, &dir.join(port.to_string()), kind))
            .collect::<BenchResult<Vec<ChildGuard>>>()?;
        if kind == RedisKind::Cluster {
            create_cluster(&ports)?;
            wait_for_cluster(&ports)?;
        }
        Ok(Redis {
            kind,
            ports,
            _servers: servers,
        })
    }

    /// keyward's `KEYWARD_REDIS_URL`: several comma-separated URLs mean a cluster.
    fn url(&self) -> String {
        let urls: Vec<String> = self
            .ports
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect();
        urls.join(",")
    }

    fn describe(&self) -> String {
        let addresses: Vec<String> = self
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        match self.kind {
            RedisKind::Single => format!("redis-server listening on {}", addresses.join(", ")),
            RedisKind::Cluster => format!(
                "redis cluster ready: {} masters on {}",
                self.ports.len(),
                addresses.join(", ")
            ),
        }
    }

    fn benchmark_label(&self) -> &'static str {
        match self.kind {
            RedisKind::Single => "Redis GET (redis-benchmark)",
            RedisKind::Cluster => "Redis GET (redis-benchmark --cluster)",
        }
    }
}

fn start_redis(port: u16, dir: &Path, kind: RedisKind) -> BenchResult<ChildGuard> {
    std::fs::create_dir_all(dir).context("creating the redis directory")?;
    let mut command = Command::new("redis-server");
    command
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1"]);
    if kind == RedisKind::Cluster {
        command
            .args(["--cluster-enabled", "yes", "--cluster-config-file"])
            .arg(dir.join("nodes.conf"))
            .args(["--cluster-require-full-coverage", "no"]);
    }
    let child = command
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting redis-server")?;
    let guard = ChildGuard {
        name: "redis-server",
        child,
    };
    wait_for_redis(port)?;
    Ok(guard)
}

/// Polls with PING until Redis answers; it takes a few milliseconds to start listening.
fn wait_for_redis(port: u16) -> BenchResult<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if redis_pings(port) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "redis-server on port {port} did not answer PING within 10 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn create_cluster(ports: &[u16]) -> BenchResult<()> {
    let output = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(ports.iter().map(|port| format!("127.0.0.1:{port}")))
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdin(Stdio::null())
        .output()
        .context("running redis-cli --cluster create")?;
    if !output.status.success() {
        return Err(format!(
            "redis-cli --cluster create failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// Slots are assigned at once, but every node must have heard of all of them before keyward
/// asks any node for the topology.
fn wait_for_cluster(ports: &[u16]) -> BenchResult<()> {
    let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
    while !ports.iter().all(|port| cluster_state_ok(*port)) {
        if Instant::now() > deadline {
            return Err(format!(
                "the redis cluster did not reach cluster_state:ok within {} s",
                CLUSTER_READY_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn cluster_state_ok(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .args(["CLUSTER", "INFO"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|output| {
            output.status.success()
                && String::from_utf8_lossy(&output.stdout).contains("cluster_state:ok")
        })
}

fn redis_pings(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

struct Keyward {
    base_url: String,
    child: ChildGuard,
}

/// Starts `count` keyward processes on the same Redis and data directory, one after the other:
/// the first generates the encryption key file that the others then read.
fn start_instances(redis_url: &str, data_dir: &Path, count: usize) -> BenchResult<Vec<Keyward>> {
    let mut instances = Vec::with_capacity(count);
    for _ in 0..count {
        let keyward = start_keyward(redis_url, data_dir)?;
        println!("keyward listening on {}", keyward.base_url);
        instances.push(keyward);
    }
    Ok(instances)
}

fn start_keyward(redis_url: &str, data_dir: &Path) -> BenchResult<Keyward> {
    let child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        // config/default.toml is read relative to the working directory.
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KEYWARD_BIND", "127.0.0.1:0")
        .env("KEYWARD_REDIS_URL", redis_url)
        .env("KEYWARD_SERVICE_TOKEN", SERVICE_TOKEN)
        .env("KEYWARD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("KEYWARD_DATA_DIR", data_dir)
        // A sweep in the middle of a measurement would add noise.
        .env("KEYWARD_EXPIRY_SWEEP_SECS", "0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting keyward")?;
    let mut guard = ChildGuard {
        name: "keyward",
        child,
    };
    let stdout = guard
        .child
        .stdout
        .take()
        .ok_or("keyward's stdout was not captured")?;
    let base_url = wait_for_listening_line(stdout, &mut guard)?;
    Ok(Keyward {
        base_url,
        child: guard,
    })
}

/// Reads keyward's stdout on a thread until it announces its address. The thread keeps
/// draining stdout afterwards so the server never blocks on a full pipe.
fn wait_for_listening_line(
    stdout: std::process::ChildStdout,
    guard: &mut ChildGuard,
) -> BenchResult<String> {
    const MARKER: &str = "keyward listening on ";
    let (found, listening) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut announced = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if announced {
                continue;
            }
            if let Some(at) = line.find(MARKER) {
                announced = true;
                let _ = found.send(line[at + MARKER.len()..].trim().to_string());
            }
        }
    });
    match listening.recv_timeout(STARTUP_TIMEOUT) {
        Ok(url) if url.starts_with("http://") => Ok(url),
        Ok(url) => Err(format!("keyward announced an unexpected address {url:?}")),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
            "keyward did not print its listening line within {} s",
            STARTUP_TIMEOUT.as_secs()
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let status = match guard.child.wait() {
                Ok(status) => status.to_string(),
                Err(e) => format!("unknown status ({e})"),
            };
            Err(format!(
                "keyward exited ({status}) before listening; its stderr is above"
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Redis baseline and machine facts

struct RedisGet {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn redis_get_benchmark(redis: &Redis) -> BenchResult<RedisGet> {
    let port = redis.ports.first().ok_or("redis has no port")?;
    // A cluster run spreads its keys over the masters it discovers from the first one.
    let cluster: &[&str] = match redis.kind {
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

fn redis_version() -> String {
    let Ok(output) = Command::new("redis-server").arg("--version").output() else {
        return "unknown".to_string();
    };
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .map_or_else(|| text.trim().to_string(), str::to_string)
}

fn cpu_count() -> String {
    let from_nproc = Command::new("nproc")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string());
    from_nproc.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or_else(|_| "?".to_string(), |n| n.to_string())
    })
}

struct Memory {
    peak_kib: u64,
    current_kib: u64,
}

fn read_memory(pid: u32) -> BenchResult<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).context(format!("reading {path}"))?;
    let field = |name: &str| -> BenchResult<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("{path} has no readable {name}"))
    };
    Ok(Memory {
        peak_kib: field("VmHWM:")?,
        current_kib: field("VmRSS:")?,
    })
}

// ---------------------------------------------------------------------------------------------
// keyward's HTTP API

/// Cheap to clone: reqwest's client shares its connection pool.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base_url: String,
}

struct CreatedKey {
    id: String,
    secret: String,
}

impl Api {
    fn new(base_url: &str) -> BenchResult<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Api {
            client,
            base_url: base_url.to_string(),
        })
    }

    async fn create_key(&self, fields: &Value) -> BenchResult<CreatedKey> {
        let response = self
            .client
            .post(format!("{}/api/v1/admin/keys", self.base_url))
            .bearer_auth(ADMIN_TOKEN)
            .json(fields)
            .send()
            .await
            .context("POST /api/v1/admin/keys")?;
        let status = response.status();
        let body = response
            .text()
            .await
            .context("reading the create-key response")?;
        if status != reqwest::StatusCode::CREATED {
            return Err(format!("creating a key answered {status}: {body}"));
        }
        let created: Value = serde_json::from_str(&body).context("parsing the created key")?;
        let text = |pointer: &str| {
            created
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("created key has no {pointer}: {body}"))
        };
        Ok(CreatedKey {
            id: text("/key/id")?,
            secret: text("/apiKey")?,
        })
    }

    /// Sends one request the way wrk will, so a wrong body fails loudly here instead of
    /// showing up only as a non-2xx count.
    async fn probe(&self, url: &str, body: &Value) -> BenchResult<()> {
        let response = self
            .client
            .post(url)
            .bearer_auth(SERVICE_TOKEN)
            .json(body)
            .send()
            .await
            .context(format!("POST {url}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let refused = serde_json::from_str::<Value>(&text)
            .is_ok_and(|v| v.get("valid") == Some(&Value::Bool(false)));
        if !status.is_success() || refused {
            return Err(format!("POST {url} answered {status}: {text}"));
        }
        Ok(())
    }

    /// Times sequential GETs of the key list; each must answer 200.
    async fn list_latency(&self, label: &'static str, query: &str) -> BenchResult<Latency> {
        let url = format!("{}/api/v1/admin/keys?{query}", self.base_url);
        let mut last_body = String::new();
        for _ in 0..LATENCY_WARMUP {
            last_body = self.admin_get(&url).await?;
        }
        let mut samples_ms = Vec::with_capacity(LATENCY_SAMPLES);
        for _ in 0..LATENCY_SAMPLES {
            let started = Instant::now();
            self.admin_get(&url).await?;
            samples_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let listed: Value = serde_json::from_str(&last_body).context(format!("parsing {url}"))?;
        let total = listed.get("total").and_then(Value::as_u64).unwrap_or(0);
        let returned = listed
            .get("keys")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let latency = Latency::from_samples(samples_ms);
        println!(
            "{label}: {returned} keys of {total}, p50 {:.2} ms, p99 {:.2} ms",
            latency.p50_ms, latency.p99_ms
        );
        Ok(latency)
    }

    /// A key as the admin API shows it, with live concurrency and usage totals.
    async fn get_key(&self, id: &str) -> BenchResult<Value> {
        let url = format!("{}/api/v1/admin/keys/{id}", self.base_url);
        let body = self.admin_get(&url).await?;
        let mut answer: Value = serde_json::from_str(&body).context(format!("parsing {url}"))?;
        match answer.get_mut("key") {
            Some(key) => Ok(key.take()),
            None => Err(format!("GET {url} has no key: {body}")),
        }
    }

    async fn admin_get(&self, url: &str) -> BenchResult<String> {
        let response = self
            .client
            .get(url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .context(format!("GET {url}"))?;
        let status = response.status();
        // Reading the body is part of what a client waits for.
        let body = response.text().await.context(format!("reading {url}"))?;
        if status != reqwest::StatusCode::OK {
            return Err(format!("GET {url} answered {status}: {body}"));
        }
        Ok(body)
    }
}

fn verify_body(secret: &str, acquire: bool) -> Value {
    json!({"key": secret, "service": "claude", "model": MODEL, "acquire": acquire})
}

/// Creates `count` keys with a fixed number of requests in flight; returns how long it took.
async fn seed_keys(api: &Api, count: usize) -> BenchResult<Duration> {
    println!("seeding {count} keys ...");
    let next = Arc::new(AtomicUsize::new(1));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..SEED_IN_FLIGHT {
        let api = api.clone();
        let next = Arc::clone(&next);
        workers.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n > count {
                    return Ok::<(), String>(());
                }
                api.create_key(&seed_fields(n)).await?;
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.context("a seeding task panicked")??;
    }
    Ok(started.elapsed())
}

fn seed_fields(n: usize) -> Value {
    let word = if n.is_multiple_of(NEEDLE_EVERY) {
        NEEDLE
    } else {
        NAME_WORDS[n % NAME_WORDS.len()]
    };
    // Two tags per key, so tag indexes hold overlapping sets as in real use.
    let tags = [TAGS[n % TAGS.len()], TAGS[(n / TAGS.len()) % TAGS.len()]];
    json!({"name": format!("team-{n} {word}"), "tags": tags})
}

// ---------------------------------------------------------------------------------------------
// wrk

struct WrkLoad<'a> {
    /// One wrk process per instance, all running at once.
    apis: &'a [Api],
    dir: &'a Path,
    secs: u64,
}

struct WrkRun {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

impl WrkLoad<'_> {
    async fn run(&self, name: &str, path: &str, body: &Value) -> BenchResult<WrkRun> {
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
fn wrk_shape(instances: usize) -> String {
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

// ---------------------------------------------------------------------------------------------
// Figures and the summary

struct Latency {
    p50_ms: f64,
    p99_ms: f64,
}

impl Latency {
    fn from_samples(mut samples_ms: Vec<f64>) -> Self {
        samples_ms.sort_by(f64::total_cmp);
        Latency {
            p50_ms: percentile(&samples_ms, 50.0),
            p99_ms: percentile(&samples_ms, 99.0),
        }
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], pct: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Signs in to the dashboard like a browser, then times the server-rendered key list with
/// 50 rows (HTML, the same data as the API's list plus the template).
async fn dashboard_latency(base_url: &str) -> BenchResult<Latency> {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the dashboard client")?;
    let login = client
        .get(format!("{base_url}/login"))
        .send()
        .await
        .context("GET /login")?
        .text()
        .await
        .context("reading /login")?;
    let marker = r#"name="_csrf" value=""#;
    let csrf: String = login
        .split_once(marker)
        .map(|(_, rest)| rest.chars().take_while(|c| *c != '"').collect())
        .ok_or("the login page has no CSRF token")?;
    let form = [
        ("_csrf", csrf.as_str()),
        ("username", "admin"),
        ("password", ADMIN_PASSWORD),
    ];
    let signed_in = client
        .post(format!("{base_url}/login"))
        .form(&form)
        .send()
        .await
        .context("POST /login")?;
    if !signed_in.url().path().ends_with("/keys") {
        return Err(format!(
            "dashboard sign-in failed: ended at {}",
            signed_in.url()
        ));
    }
    let url = format!("{base_url}/keys?perPage=50");
    let get_page = || async {
        let response = client
            .get(&url)
            .send()
            .await
            .context(format!("GET {url}"))?;
        let status = response.status();
        let html = response.text().await.context(format!("reading {url}"))?;
        if status != reqwest::StatusCode::OK || html.matches("data-key-id=").count() != 50 {
            return Err(format!("GET {url} answered {status} without 50 rows"));
        }
        Ok::<(), String>(())
    };
    for _ in 0..LATENCY_WARMUP {
        get_page().await?;
    }
    let mut samples_ms = Vec::with_capacity(LATENCY_SAMPLES);
    for _ in 0..LATENCY_SAMPLES {
        let started = Instant::now();
        get_page().await?;
        samples_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let latency = Latency::from_samples(samples_ms);
    println!(
        "dashboard /keys: 50 rows, p50 {:.2} ms, p99 {:.2} ms",
        latency.p50_ms, latency.p99_ms
    );
    Ok(latency)
}

struct Setup {
    configuration: String,
    cpus: String,
    redis_version: String,
    redis_get_label: &'static str,
    wrk_shape: String,
    wrk_secs: u64,
    /// Whose memory the figures are, when there is more than one keyward.
    memory_of: Option<&'static str>,
}

fn memory_owner(instances: usize) -> Option<&'static str> {
    (instances > 1).then_some("keyward #1")
}

struct Figures {
    redis_get: RedisGet,
    verify_check: WrkRun,
    verify_admit: WrkRun,
    usage: WrkRun,
    list_page: Latency,
    search: Latency,
    deep_page: Latency,
    dashboard_page: Latency,
    memory: Memory,
    memory_with_dashboard: Memory,
}

/// One line of the summary: measure, throughput, p50, p99, share of Redis GET, target, met.
type Row = [String; 7];

fn print_summary(setup: &Setup, figures: &Figures) {
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
fn print_columns<const N: usize>(rows: &[[String; N]], numeric: RangeInclusive<usize>) {
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

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn share_pct(rps: f64, redis_rps: f64) -> f64 {
    if redis_rps > 0.0 {
        rps / redis_rps * 100.0
    } else {
        f64::NAN
    }
}

fn per_sec(rps: f64) -> String {
    format!("{}/s", group_thousands(rps))
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "not met"
    }
}

fn ms(value: f64) -> String {
    if value.is_nan() {
        "n/a".to_string()
    } else {
        format!("{value:.2} ms")
    }
}

/// `123456.7` → `123,457`, so throughput columns read at a glance.
fn group_thousands(value: f64) -> String {
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

// ---------------------------------------------------------------------------------------------
// Soak: mixed traffic for a fixed time, then usage totals that must match exactly

const SOAK_WORKERS: usize = 48;
/// Every this-many iteration a worker also lists keys, as an admin would meanwhile.
const SOAK_LIST_EVERY: u64 = 20;
/// Below the number of workers, so admission refusals are part of the traffic.
const SOAK_CONCURRENCY_LIMIT: u64 = 40;
const SOAK_MODEL: &str = "claude-haiku-4-5";
const SOAK_INPUT_TOKENS: u64 = 10;
const SOAK_OUTPUT_TOKENS: u64 = 5;
const SOAK_CACHE_READ_TOKENS: u64 = 3;
/// claude-haiku-4-5 per token in nano-USD: $1, $5 and $0.10 per million tokens.
const HAIKU_INPUT_NANOS: u64 = 1_000;
const HAIKU_OUTPUT_NANOS: u64 = 5_000;
const HAIKU_CACHE_READ_NANOS: u64 = 100;
/// Errors are all counted; only the first few are kept to show what went wrong.
const SOAK_ERROR_SAMPLES: usize = 5;

/// Runs the soak against a key of its own and reads that key's totals afterwards. Workers
/// alternate between the instances; the key is created on and read from the first.
async fn soak(apis: &[Api], pids: &[u32], secs: u64) -> BenchResult<SoakReport> {
    let api = apis.first().ok_or("no keyward instance to soak")?;
    let key = api
        .create_key(&json!({
            "name": "soak",
            "concurrencyLimit": SOAK_CONCURRENCY_LIMIT,
            "rateLimitWindow": 1,
            "rateLimitRequests": 1_000_000_000u64,
        }))
        .await?;
    let rss_before_kib = current_rss_kib(pids)?;
    println!(
        "soak: {secs} s, {SOAK_WORKERS} workers: verify with a lease, usage releasing it, key list every {SOAK_LIST_EVERY}th time ..."
    );
    let started = Instant::now();
    let mut tally = run_soak_workers(apis, &key, started + Duration::from_secs(secs)).await?;
    let elapsed = started.elapsed();
    tally.sort_latencies();
    let rss_after_kib = current_rss_kib(pids)?;
    let settled = api.get_key(&key.id).await?;
    Ok(SoakReport {
        elapsed,
        instances: apis.len(),
        checks: soak_checks(&settled, tally.usage_recorded),
        tally,
        rss_before_kib,
        rss_after_kib,
    })
}

async fn run_soak_workers(
    apis: &[Api],
    key: &CreatedKey,
    deadline: Instant,
) -> BenchResult<SoakTally> {
    let key_id: Arc<str> = Arc::from(key.id.as_str());
    let verify_body = Arc::new(json!({
        "key": key.secret,
        "service": "claude",
        "model": SOAK_MODEL,
        "acquire": true,
    }));
    let mut workers = tokio::task::JoinSet::new();
    for api in apis.iter().cycle().take(SOAK_WORKERS) {
        let worker = SoakWorker {
            api: api.clone(),
            key_id: Arc::clone(&key_id),
            verify_body: Arc::clone(&verify_body),
            deadline,
        };
        workers.spawn(worker.work());
    }
    let mut tally = SoakTally::default();
    while let Some(joined) = workers.join_next().await {
        tally.merge(joined.context("a soak worker panicked")?);
    }
    Ok(tally)
}

fn current_rss_kib(pids: &[u32]) -> BenchResult<Vec<u64>> {
    pids.iter()
        .map(|pid| read_memory(*pid).map(|memory| memory.current_kib))
        .collect()
}

/// One worker's loop until the deadline; a request in flight at the deadline still finishes.
struct SoakWorker {
    api: Api,
    key_id: Arc<str>,
    verify_body: Arc<Value>,
    deadline: Instant,
}

impl SoakWorker {
    async fn work(self) -> SoakTally {
        let mut tally = SoakTally::default();
        let mut iteration: u64 = 0;
        while Instant::now() < self.deadline {
            iteration += 1;
            if iteration.is_multiple_of(SOAK_LIST_EVERY) {
                self.list_keys(&mut tally).await;
            }
            if let Some(lease) = self.admit(&mut tally).await {
                self.record_usage(&lease, &mut tally).await;
            }
        }
        tally
    }

    /// Admission with a lease; `None` when refused or failed.
    async fn admit(&self, tally: &mut SoakTally) -> Option<String> {
        let url = format!("{}/api/v1/keys/verify", self.api.base_url);
        let request = self
            .api
            .client
            .post(&url)
            .bearer_auth(SERVICE_TOKEN)
            .json(&*self.verify_body);
        let reply = match send_timed(request).await {
            Ok(reply) => reply,
            Err(e) => {
                tally.error(format!("POST {url}: {e}"));
                return None;
            }
        };
        tally.admission_ms.push(reply.elapsed_ms);
        match reply.status {
            reqwest::StatusCode::OK => {
                let lease = lease_id(&reply.body);
                if lease.is_none() {
                    tally.error(format!(
                        "verify answered 200 without a lease: {}",
                        reply.body
                    ));
                }
                lease
            }
            reqwest::StatusCode::TOO_MANY_REQUESTS => {
                tally.admissions_refused += 1;
                None
            }
            status => {
                tally.error(format!("verify answered {status}: {}", reply.body));
                None
            }
        }
    }

    /// Reports usage under the lease, which releases it.
    async fn record_usage(&self, lease: &str, tally: &mut SoakTally) {
        let url = format!("{}/api/v1/usage", self.api.base_url);
        let body = json!({
            "keyId": &*self.key_id,
            "accountId": "soak-account",
            "model": SOAK_MODEL,
            "lease": lease,
            "usage": {
                "input_tokens": SOAK_INPUT_TOKENS,
                "output_tokens": SOAK_OUTPUT_TOKENS,
                "cache_read_input_tokens": SOAK_CACHE_READ_TOKENS,
            },
        });
        let request = self
            .api
            .client
            .post(&url)
            .bearer_auth(SERVICE_TOKEN)
            .json(&body);
        match send_timed(request).await {
            Err(e) => tally.error(format!("POST {url}: {e}")),
            Ok(reply) => {
                tally.usage_ms.push(reply.elapsed_ms);
                if reply.status == reqwest::StatusCode::OK {
                    tally.usage_recorded += 1;
                } else {
                    tally.error(format!("usage answered {}: {}", reply.status, reply.body));
                }
            }
        }
    }

    async fn list_keys(&self, tally: &mut SoakTally) {
        let url = format!("{}/api/v1/admin/keys?page=1&perPage=50", self.api.base_url);
        let request = self.api.client.get(&url).bearer_auth(ADMIN_TOKEN);
        match send_timed(request).await {
            Err(e) => tally.error(format!("GET {url}: {e}")),
            Ok(reply) => {
                tally.list_ms.push(reply.elapsed_ms);
                if !reply.status.is_success() {
                    tally.error(format!(
                        "key list answered {}: {}",
                        reply.status, reply.body
                    ));
                }
            }
        }
    }
}

/// An answered request, whatever its status; only a transport failure is an `Err`.
struct Reply {
    status: reqwest::StatusCode,
    body: String,
    elapsed_ms: f64,
}

async fn send_timed(request: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
    let started = Instant::now();
    let response = request.send().await?;
    let status = response.status();
    // Reading the body is part of what a client waits for.
    let body = response.text().await?;
    Ok(Reply {
        status,
        body,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

fn lease_id(verified: &str) -> Option<String> {
    let verified: Value = serde_json::from_str(verified).ok()?;
    verified.pointer("/lease/id")?.as_str().map(str::to_string)
}

/// Counts and latencies of one worker, or of all once merged.
#[derive(Default)]
struct SoakTally {
    admission_ms: Vec<f64>,
    usage_ms: Vec<f64>,
    list_ms: Vec<f64>,
    admissions_refused: u64,
    /// Usage calls answered 200: exactly what the key's totals must show.
    usage_recorded: u64,
    errors: u64,
    error_samples: Vec<String>,
}

impl SoakTally {
    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.error_samples.len() < SOAK_ERROR_SAMPLES {
            self.error_samples.push(message);
        }
    }

    fn merge(&mut self, other: SoakTally) {
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

    fn sort_latencies(&mut self) {
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
struct Check {
    field: &'static str,
    reported: Option<u64>,
    expected: u64,
}

impl Check {
    fn holds(&self) -> bool {
        self.reported == Some(self.expected)
    }
}

fn soak_checks(key: &Value, usage_recorded: u64) -> Vec<Check> {
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

struct SoakReport {
    elapsed: Duration,
    instances: usize,
    tally: SoakTally,
    rss_before_kib: Vec<u64>,
    rss_after_kib: Vec<u64>,
    checks: Vec<Check>,
}

impl SoakReport {
    fn print(&self) {
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
    fn verdict(&self) -> BenchResult<()> {
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
