//! End-to-end benchmark: keyward's relay and admin APIs against a Redis of its own, compared with
//! raw Redis. Prints figures and targets; never asserts timing (`cargo bench --bench keyward`).

use std::fmt::Display;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
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
const WRK_CONNECTIONS: u32 = 64;
const WRK_THREADS: u32 = 2;
const DEFAULT_WRK_SECS: u64 = 15;
const LATENCY_WARMUP: usize = 20;
const LATENCY_SAMPLES: usize = 200;
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

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
    require_tools()?;
    let wrk_secs = wrk_duration_secs()?;
    // Declared first so it is removed last, after both servers are gone.
    let scratch = tempfile::tempdir().context("creating a temporary directory")?;

    let redis_port = free_port()?;
    let _redis = start_redis(redis_port, &scratch.path().join("redis"))?;
    println!("redis-server listening on 127.0.0.1:{redis_port}");
    let redis_get = redis_get_benchmark(redis_port).await?;
    println!(
        "redis-benchmark GET: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms",
        redis_get.rps, redis_get.p50_ms, redis_get.p99_ms
    );

    let keyward = start_keyward(redis_port, &scratch.path().join("data"))?;
    println!("keyward listening on {}", keyward.base_url);
    let api = Api::new(&keyward.base_url)?;

    let key_a = api.create_key(&json!({"name": "bench-check"})).await?;
    let key_b = api
        .create_key(&json!({
            "name": "bench-window",
            "rateLimitWindow": 60,
            "rateLimitRequests": 1_000_000_000u64,
            "concurrencyLimit": 0,
        }))
        .await?;
    let seeding = seed_keys(&api, TOTAL_KEYS - 2).await?;
    println!(
        "seeded {} keys in {:.1} s ({:.0} keys/s, {SEED_IN_FLIGHT} in flight)",
        TOTAL_KEYS - 2,
        seeding.as_secs_f64(),
        (TOTAL_KEYS - 2) as f64 / seeding.as_secs_f64()
    );

    let wrk_dir = scratch.path().join("wrk");
    std::fs::create_dir_all(&wrk_dir).context("creating the wrk script directory")?;
    let verify_url = format!("{}/api/v1/keys/verify", keyward.base_url);
    let usage_url = format!("{}/api/v1/usage", keyward.base_url);
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
    let load = WrkLoad {
        dir: &wrk_dir,
        secs: wrk_secs,
    };
    let verify_check = load
        .run(&api, "verify-check", &verify_url, &check_body)
        .await?;
    let verify_admit = load
        .run(&api, "verify-admit", &verify_url, &admit_body)
        .await?;
    let usage = load.run(&api, "usage", &usage_url, &usage_body).await?;

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
    let memory = read_memory(keyward.child.id())?;
    let dashboard_page = dashboard_latency(&api.base_url).await?;
    let memory_with_dashboard = read_memory(keyward.child.id())?;
    let setup = Setup {
        cpus: cpu_count(),
        redis_version: redis_version(),
        wrk_secs,
    };
    let figures = Figures {
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
    };
    print_summary(&setup, &figures);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tools, ports, child processes

/// Fails before anything starts, so a missing tool is not reported as a confusing spawn error.
fn require_tools() -> BenchResult<()> {
    if find_on_path("wrk").is_none() {
        return Err(
            "`wrk` is not on PATH; install it (Debian/Ubuntu: `apt-get install -y wrk`) and rerun"
                .to_string(),
        );
    }
    for tool in ["redis-server", "redis-benchmark"] {
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

fn wrk_duration_secs() -> BenchResult<u64> {
    match std::env::var("BENCH_SECS") {
        Err(_) => Ok(DEFAULT_WRK_SECS),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(secs) if secs > 0 => Ok(secs),
            _ => Err(format!(
                "BENCH_SECS must be a whole number of seconds above 0, got {text:?}"
            )),
        },
    }
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

fn start_redis(port: u16, dir: &Path) -> BenchResult<ChildGuard> {
    std::fs::create_dir_all(dir).context("creating the redis directory")?;
    let child = Command::new("redis-server")
        .arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
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

fn start_keyward(redis_port: u16, data_dir: &Path) -> BenchResult<Keyward> {
    let child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        // config/default.toml is read relative to the working directory.
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KEYWARD_BIND", "127.0.0.1:0")
        .env(
            "KEYWARD_REDIS_URL",
            format!("redis://127.0.0.1:{redis_port}"),
        )
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

async fn redis_get_benchmark(port: u16) -> BenchResult<RedisGet> {
    println!("running redis-benchmark -t get -c 64 -n 300000 ...");
    let output = tokio::process::Command::new("redis-benchmark")
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
fn parse_redis_csv(csv: &str) -> Option<RedisGet> {
    let split = |line: &str| -> Vec<String> {
        line.split(',')
            .map(|cell| cell.trim().trim_matches('"').to_string())
            .collect()
    };
    let mut lines = csv.lines().filter(|line| !line.trim().is_empty());
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
            last_body = self.get_list(&url).await?;
        }
        let mut samples_ms = Vec::with_capacity(LATENCY_SAMPLES);
        for _ in 0..LATENCY_SAMPLES {
            let started = Instant::now();
            self.get_list(&url).await?;
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

    async fn get_list(&self, url: &str) -> BenchResult<String> {
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
    async fn run(&self, api: &Api, name: &str, url: &str, body: &Value) -> BenchResult<WrkRun> {
        api.probe(url, body).await?;
        // Generated at run time so no secret is ever committed.
        let script = self.dir.join(format!("{name}.lua"));
        std::fs::write(&script, wrk_script(&body.to_string()))
            .context(format!("writing {}", script.display()))?;
        println!(
            "wrk {name}: {WRK_THREADS} threads, {WRK_CONNECTIONS} connections, {} s ...",
            self.secs
        );
        let output = tokio::process::Command::new("wrk")
            .arg(format!("-t{WRK_THREADS}"))
            .arg(format!("-c{WRK_CONNECTIONS}"))
            .arg(format!("-d{}s", self.secs))
            .arg("--latency")
            .arg("-s")
            .arg(&script)
            .arg(url)
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
        println!(
            "wrk {name}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, non-2xx {}, socket errors {socket_errors}",
            run.rps, run.p50_ms, run.p99_ms, run.non_2xx
        );
        Ok(run)
    }
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
    cpus: String,
    redis_version: String,
    wrk_secs: u64,
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
        "Redis GET (redis-benchmark)".into(),
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
    let mib = |kib: u64| kib as f64 / 1024.0;
    let peak_mib = mib(figures.memory.peak_kib);
    let memory_rows = [
        (
            "keyward peak RSS, API load (VmHWM)",
            format!("{peak_mib:.1} MiB"),
            format!("< {TARGET_RSS_MIB:.0} MiB"),
            met(peak_mib < TARGET_RSS_MIB),
        ),
        (
            "keyward RSS after API load (VmRSS)",
            format!("{:.1} MiB", mib(figures.memory.current_kib)),
            String::new(),
            "",
        ),
        (
            "peak RSS incl. dashboard sign-in",
            format!("{:.1} MiB", mib(figures.memory_with_dashboard.peak_kib)),
            "argon2id: 19 MiB per sign-in".into(),
            "",
        ),
    ];
    for (measure, value, target, verdict) in memory_rows {
        rows.push([
            measure.into(),
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
        "keyward bench summary — nproc {}, redis-server {}, wrk {WRK_THREADS} threads × {WRK_CONNECTIONS} connections × {} s, {TOTAL_KEYS} keys",
        setup.cpus, setup.redis_version, setup.wrk_secs
    );
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
    let mut widths = [0usize; 7];
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
                // Numbers right-aligned, words left-aligned.
                if (1..=4).contains(&column) {
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
