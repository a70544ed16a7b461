//! The key-count part of the bench (`BENCH_KEYS`, default 10,000): seeds the keys through the
//! batch API, then, with Redis's slow log at 2 ms, runs every list filter × sort × order, deep
//! pages, the CSV export (when the server has it), disable-expired and the accounts page, and
//! prints the slow log, p99 per query type, verify's p99 with and without a concurrent loop of
//! dashboard queries, Redis memory per key and keyward's RSS.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::Api;
use crate::harness::{RedisServer, ADMIN_TOKEN, SERVICE_TOKEN};
use crate::latency::percentile;
use crate::memory::{mib, read_memory};
use crate::{BenchResult, Context};

const DEFAULT_KEYS: usize = 10_000;
/// Keys per batch request (the API's most) and batch requests in flight while seeding.
const BATCH: usize = 500;
const BATCHES_IN_FLIGHT: usize = 4;
/// One batch in this many carries the search word, so a search matches about 1% of keys.
const NEEDLE_EVERY: usize = 100;
pub const NEEDLE: &str = "needle";
const TAGS: [&str; 5] = ["prod", "staging", "dev", "research", "ops"];
const SORTS: [&str; 4] = ["createdAt", "name", "lastUsedAt", "dailyCost"];
/// Samples per filter × sort × order, after one warm-up.
const SAMPLES: usize = 10;
const SLOWLOG_THRESHOLD_US: &str = "2000";
const VERIFY_WORKERS: usize = 16;
const VERIFY_SECS: u64 = 8;

/// `BENCH_KEYS`: how many keys the bench holds (at least 1,000).
pub fn bench_keys() -> BenchResult<usize> {
    let Ok(text) = std::env::var("BENCH_KEYS") else {
        return Ok(DEFAULT_KEYS);
    };
    match text.trim().replace('_', "").parse::<usize>() {
        Ok(n) if n >= 1000 => Ok(n),
        _ => Err(format!(
            "BENCH_KEYS must be a whole number ≥ 1000, got {text:?}"
        )),
    }
}

/// A redis connection to each node (one for a single server).
async fn nodes(redis: &RedisServer) -> BenchResult<Vec<redis::aio::MultiplexedConnection>> {
    let mut conns = Vec::new();
    for port in redis.ports() {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .context("opening a bench redis client")?;
        conns.push(
            client
                .get_multiplexed_async_connection()
                .await
                .context("connecting to a redis node")?,
        );
    }
    Ok(conns)
}

async fn info_field(conn: &mut redis::aio::MultiplexedConnection, field: &str) -> BenchResult<u64> {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .context("INFO memory")?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("INFO memory has no {field}"))
}

/// Redis `used_memory` summed over the nodes.
pub async fn used_memory(redis: &RedisServer) -> BenchResult<u64> {
    let mut total = 0;
    for mut conn in nodes(redis).await? {
        total += info_field(&mut conn, "used_memory").await?;
    }
    Ok(total)
}

/// The `MEMORY USAGE` of a key, summed over the nodes (`None` from a node that does not hold
/// it, which answers with a redirect); 0 when no node holds it.
async fn memory_usage(conns: &mut [redis::aio::MultiplexedConnection], name: &str) -> u64 {
    let mut total = 0;
    for conn in conns {
        let bytes: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(name)
            .arg("SAMPLES")
            .arg(0)
            .query_async(conn)
            .await
            .unwrap_or(None);
        total += bytes.unwrap_or(0);
    }
    total
}

/// The two logs of capped size: the listing's change stream (`kw:{idx}:changes`, about
/// 200,000 entries at most) and the audit log (`kw:{audit}:log`, `audit_max_entries`). They
/// grow with writes, not with keys, so they are counted apart from the keys' own memory.
const CAPPED_LOGS: [&str; 2] = ["kw:{idx}:changes", "kw:{audit}:log"];

/// Redis memory at one moment: `used_memory` and the size of each capped log (in the order of
/// `CAPPED_LOGS`), each summed over the nodes.
#[derive(Debug, Clone, Copy)]
pub struct MemoryMark {
    pub used: u64,
    pub logs: [u64; 2],
}

impl MemoryMark {
    pub async fn take(redis: &RedisServer) -> BenchResult<MemoryMark> {
        let used = used_memory(redis).await?;
        let mut conns = nodes(redis).await?;
        let mut logs = [0; 2];
        for (size, name) in logs.iter_mut().zip(CAPPED_LOGS) {
            *size = memory_usage(&mut conns, name).await;
        }
        Ok(MemoryMark { used, logs })
    }
}

/// What seeding produced: a sample of keys (id, secret), how fast it went, and Redis's memory
/// right after it (before anything else is written).
pub struct Seeded {
    pub sample: Vec<(String, String)>,
    pub keys: usize,
    pub elapsed: Duration,
    pub memory_after: MemoryMark,
}

impl Seeded {
    pub fn rate(&self) -> f64 {
        self.keys as f64 / self.elapsed.as_secs_f64()
    }
}

fn batch_fields(n: usize, count: usize, expires_at: &str) -> Value {
    let word = if n.is_multiple_of(NEEDLE_EVERY) {
        NEEDLE
    } else {
        [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
        ][n % 7]
    };
    let tags = [TAGS[n % TAGS.len()], TAGS[(n / TAGS.len()) % TAGS.len()]];
    let mut fields = json!({
        "count": count,
        "namePrefix": format!("team{n} {word}"),
        "tags": tags,
        "claudeAccountId": format!("bench-acct-{}", n % 3),
    });
    // Some disabled and some expiring keys, so every status filter has members.
    if n % 10 == 3 {
        fields["isActive"] = json!(false);
    }
    if n % 10 == 7 {
        fields["expiresAt"] = json!(expires_at);
    }
    fields
}

/// Creates `count` keys through `POST /api/v1/admin/keys/batch`.
pub async fn seed(api: &Api, redis: &RedisServer, count: usize) -> BenchResult<Seeded> {
    println!("seeding {count} keys through the batch API ({BATCH} a request, {BATCHES_IN_FLIGHT} in flight) ...");
    let batches = count.div_ceil(BATCH);
    // Keys of the expiring batches expire a little after seeding ends.
    let expires_at =
        (chrono::Utc::now() + chrono::Duration::seconds((count / 2000) as i64 + 20)).to_rfc3339();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..BATCHES_IN_FLIGHT {
        let (api, next, expires_at) = (api.clone(), next.clone(), expires_at.clone());
        workers.spawn(async move {
            let mut sample = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= batches {
                    return Ok::<_, String>(sample);
                }
                let size = BATCH.min(count - n * BATCH);
                let body = api
                    .admin_send(
                        reqwest::Method::POST,
                        "/api/v1/admin/keys/batch",
                        &batch_fields(n, size, &expires_at),
                    )
                    .await?;
                if n % 20 == 0 {
                    let created: Value = serde_json::from_str(&body).context("batch answer")?;
                    for key in created["keys"].as_array().into_iter().flatten().take(50) {
                        if let (Some(id), Some(secret)) =
                            (key["key"]["id"].as_str(), key["apiKey"].as_str())
                        {
                            sample.push((id.to_string(), secret.to_string()));
                        }
                    }
                }
                if n % 200 == 199 {
                    let done = (n + 1) * BATCH;
                    println!(
                        "  {done} keys, {:.0} keys/s",
                        done as f64 / started.elapsed().as_secs_f64()
                    );
                }
            }
        });
    }
    let mut sample = Vec::new();
    while let Some(joined) = workers.join_next().await {
        sample.extend(joined.context("a seeding task panicked")??);
    }
    let elapsed = started.elapsed();
    Ok(Seeded {
        sample,
        keys: count,
        elapsed,
        memory_after: MemoryMark::take(redis).await?,
    })
}

impl Api {
    /// An admin request with a JSON body; any 2xx is success. Returns the body.
    pub async fn admin_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> BenchResult<String> {
        let url = format!("{}{path}", self.base_url);
        let response = self
            .client
            .request(method, &url)
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .context(path)?;
        let status = response.status();
        let text = response.text().await.context(format!("reading {path}"))?;
        if !status.is_success() {
            return Err(format!("{path} answered {status}: {text}"));
        }
        Ok(text)
    }
}

fn ms_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

fn p99(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    percentile(&samples, 99.0)
}

fn p50(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    percentile(&samples, 50.0)
}

/// Every filter the dashboard offers, as query strings.
fn filters() -> Vec<(String, String)> {
    let mut all = vec![
        ("no filter".to_string(), String::new()),
        (format!("search q={NEEDLE} (~1%)"), format!("q={NEEDLE}")),
        ("search q=team1 (~11%)".to_string(), "q=team1".to_string()),
        ("search q=a (most keys)".to_string(), "q=a".to_string()),
    ];
    for tag in TAGS {
        all.push((format!("tag={tag}"), format!("tag={tag}")));
    }
    for status in ["active", "disabled", "expired"] {
        all.push((format!("status={status}"), format!("status={status}")));
    }
    all.push((
        "tag=prod&status=active&q=team".to_string(),
        "tag=prod&status=active&q=team".to_string(),
    ));
    all
}

/// Runs the scale phase and prints its figures (`before_seed`: Redis's memory before seeding).
pub async fn run(
    api: &Api,
    redis: &RedisServer,
    keyward_pid: u32,
    seeded: &Seeded,
    before_seed: MemoryMark,
) -> BenchResult<()> {
    let keys = seeded.keys as u64;
    println!();
    println!("── scale: {keys} keys ──");
    println!(
        "seeded {keys} keys through the batch API in {:.1} s: {:.0} keys/s",
        seeded.elapsed.as_secs_f64(),
        seeded.rate()
    );
    print_memory_per_key(redis, seeded, before_seed).await?;
    // Usage on a sample of keys, so the cost and last-use orders have something to sort.
    for (n, (id, _)) in seeded.sample.iter().enumerate().take(500) {
        let usage = json!({"keyId": id, "accountId": "bench-acct-0", "model": "claude-sonnet-4-5",
                           "usage": {"input_tokens": 100 + n, "output_tokens": 10}});
        api.client
            .post(format!("{}/api/v1/usage", api.base_url))
            .bearer_auth(SERVICE_TOKEN)
            .json(&usage)
            .send()
            .await
            .context("recording sample usage")?;
    }

    let used = used_memory(redis).await?;
    let grown = used.saturating_sub(before_seed.used);
    println!(
        "redis used_memory after the API runs and these 500 usage records: {:.1} MiB more than \
         before seeding = {:.0} bytes per key (with the usage, and the logs as they have grown)",
        mib(grown / 1024),
        grown as f64 / keys as f64
    );
    let memory = read_memory(keyward_pid)?;
    println!(
        "keyward RSS with the listing index loaded: {:.1} MiB (peak {:.1} MiB)",
        mib(memory.current_kib),
        mib(memory.peak_kib)
    );

    // Slow log on: every command over 2 ms from here on is recorded.
    let mut conns = nodes(redis).await?;
    for conn in &mut conns {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("slowlog-log-slower-than")
            .arg(SLOWLOG_THRESHOLD_US)
            .query_async::<()>(conn)
            .await
            .context("CONFIG SET slowlog-log-slower-than")?;
        redis::cmd("SLOWLOG")
            .arg("RESET")
            .query_async::<()>(conn)
            .await
            .context("SLOWLOG RESET")?;
    }

    // Every filter × sort × order, page 1 of 50.
    let mut by_filter: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut worst = (0.0f64, String::new());
    for (label, filter) in filters() {
        for sort in SORTS {
            for order in ["asc", "desc"] {
                let query = format!("{filter}&sort={sort}&order={order}&perPage=50&page=1");
                let url = format!("{}/api/v1/admin/keys?{query}", api.base_url);
                api.admin_get(&url).await?;
                let mut samples = Vec::with_capacity(SAMPLES);
                for _ in 0..SAMPLES {
                    let started = Instant::now();
                    api.admin_get(&url).await?;
                    samples.push(ms_since(started));
                }
                let combo_p99 = p99(samples.clone());
                if combo_p99 > worst.0 {
                    worst = (combo_p99, query.clone());
                }
                by_filter.entry(label.clone()).or_default().extend(samples);
            }
        }
    }
    println!("list, page of 50, every sort × order ({SAMPLES} samples each): p99 per filter");
    for (label, samples) in &by_filter {
        let count = samples.len();
        println!(
            "  {label:<32} p50 {:>6.2} ms  p99 {:>7.2} ms  ({count} requests)",
            p50(samples.clone()),
            p99(samples.clone())
        );
    }
    println!(
        "  worst single combination: p99 {:.2} ms ({})",
        worst.0, worst.1
    );

    // Deep pages: the middle and the last page of the whole list and of a filter.
    let pages = (keys / 50).max(1);
    for (label, query) in [
        (
            "middle page by name",
            format!("sort=name&perPage=50&page={}", pages / 2),
        ),
        (
            "last page by createdAt",
            format!("sort=createdAt&perPage=50&page={pages}"),
        ),
        (
            "middle page, status=active by lastUsedAt",
            format!(
                "status=active&sort=lastUsedAt&perPage=50&page={}",
                pages / 3
            ),
        ),
        (
            "page 20 of q=team1 by dailyCost",
            "q=team1&sort=dailyCost&order=desc&perPage=50&page=20".to_string(),
        ),
    ] {
        let url = format!("{}/api/v1/admin/keys?{query}", api.base_url);
        let mut samples = Vec::new();
        for _ in 0..SAMPLES {
            let started = Instant::now();
            api.admin_get(&url).await?;
            samples.push(ms_since(started));
        }
        println!("  deep: {label:<40} p99 {:>7.2} ms", p99(samples));
    }

    // The CSV export, when this build has it (another change adds it).
    let csv_url = format!("{}/api/v1/admin/keys.csv?status=active", api.base_url);
    let started = Instant::now();
    let csv = api
        .client
        .get(&csv_url)
        .bearer_auth(ADMIN_TOKEN)
        // The client's 30 s limit covers the whole body: a million keys' export takes about
        // that long on one node and longer on the cluster.
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .context("GET keys.csv")?;
    if csv.status().is_success() {
        let lines = csv
            .text()
            .await
            .context("reading keys.csv")?
            .lines()
            .count();
        println!(
            "CSV export of active keys: {lines} lines in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    } else {
        println!("CSV export: not in this build ({}), skipped", csv.status());
    }

    // The expiry sweep's work (the same call as the background job).
    let started = Instant::now();
    let disabled = api
        .admin_send(
            reqwest::Method::POST,
            "/api/v1/admin/keys/disable-expired",
            &json!({}),
        )
        .await?;
    println!("disable-expired: {disabled} in {:.0} ms", ms_since(started));

    // The accounts pages (a signed-in dashboard session).
    let dashboard = crate::latency::sign_in(&api.base_url).await?;
    for path in [
        "/accounts",
        "/accounts/bench-acct-0",
        "/keys?perPage=50&q=needle",
    ] {
        let started = Instant::now();
        let response = dashboard
            .get(format!("{}{path}", api.base_url))
            .send()
            .await
            .context(format!("GET {path}"))?;
        let status = response.status();
        response.text().await.context("reading a page")?;
        println!("dashboard {path}: {status} in {:.1} ms", ms_since(started));
    }

    slow_log_summary(
        &mut conns,
        "the list mix, deep pages, CSV, disable-expired and the accounts pages",
    )
    .await?;

    // Verify's p99 alone, then with a loop of dashboard queries beside it.
    let secret = seeded
        .sample
        .first()
        .map(|(_, s)| s.clone())
        .ok_or("no seeded key to verify with")?;
    let alone = verify_p99(api, &secret, None).await?;
    let with_dashboard = verify_p99(api, &secret, Some(api.clone())).await?;
    println!(
        "verify p99 ({VERIFY_WORKERS} workers, {VERIFY_SECS} s each): alone {:.2} ms ({:.0}/s), \
         with a dashboard query loop {:.2} ms ({:.0}/s, {} dashboard queries): ratio {:.2} (target ≤ 1.5)",
        alone.0, alone.1, with_dashboard.0, with_dashboard.1, with_dashboard.2,
        with_dashboard.0 / alone.0
    );

    let memory = read_memory(keyward_pid)?;
    println!(
        "keyward RSS at the end: {:.1} MiB (peak {:.1} MiB)",
        mib(memory.current_kib),
        mib(memory.peak_kib)
    );

    slow_log_summary(
        &mut conns,
        "the verify runs (16 workers, with and without the dashboard loop)",
    )
    .await?;
    Ok(())
}

/// Prints what the slow log holds since the last call (by command: how many, slowest), then
/// resets it.
async fn slow_log_summary(
    conns: &mut [redis::aio::MultiplexedConnection],
    during: &str,
) -> BenchResult<()> {
    let mut by_command: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    for conn in conns.iter_mut() {
        let entries: Vec<redis::Value> = redis::cmd("SLOWLOG")
            .arg("GET")
            .arg(-1)
            .query_async(&mut *conn)
            .await
            .context("SLOWLOG GET")?;
        for entry in entries {
            let redis::Value::Array(fields) = entry else {
                continue;
            };
            let micros = match fields.get(2) {
                Some(redis::Value::Int(us)) => *us,
                _ => 0,
            };
            let words: Vec<String> = match fields.get(3) {
                Some(redis::Value::Array(args)) => args
                    .iter()
                    .take(4)
                    .filter_map(|a| redis::from_redis_value_ref::<String>(a).ok())
                    .collect(),
                _ => Vec::new(),
            };
            let tail = |i: usize| {
                words
                    .get(i)
                    .and_then(|k| k.rsplit(':').next())
                    .unwrap_or("")
                    .to_string()
            };
            // EVALSHA: the script's sha and the kind of its first key; else the command.
            let command = match words.first().map(String::as_str) {
                Some("EVALSHA") => format!(
                    "EVALSHA {} (first key …:{})",
                    words
                        .get(1)
                        .map(|sha| &sha[..8.min(sha.len())])
                        .unwrap_or(""),
                    tail(3)
                ),
                Some(other) => format!("{other} …:{}", tail(1)),
                None => "?".to_string(),
            };
            let slot = by_command.entry(command).or_insert((0, 0));
            slot.0 += 1;
            slot.1 = slot.1.max(micros);
        }
        redis::cmd("SLOWLOG")
            .arg("RESET")
            .query_async::<()>(&mut *conn)
            .await
            .context("SLOWLOG RESET")?;
    }
    let total: u64 = by_command.values().map(|(n, _)| n).sum();
    println!("slow log (> 2 ms) during {during}: {total} entries");
    for (command, (count, max_us)) in &by_command {
        println!(
            "  {count:>5} × {command} (slowest {:.1} ms)",
            *max_us as f64 / 1000.0
        );
    }
    Ok(())
}

/// Redis memory per key right after seeding: "record + indexes" is what `used_memory` grew by,
/// less what the two capped logs grew by (see `CAPPED_LOGS`); the logs are printed apart, per
/// key at this key count.
async fn print_memory_per_key(
    redis: &RedisServer,
    seeded: &Seeded,
    before_seed: MemoryMark,
) -> BenchResult<()> {
    let after = seeded.memory_after;
    let keys = seeded.keys.max(1) as f64;
    let grown = after.used.saturating_sub(before_seed.used);
    let changes = after.logs[0].saturating_sub(before_seed.logs[0]);
    let audit_log = after.logs[1].saturating_sub(before_seed.logs[1]);
    let own = grown.saturating_sub(changes + audit_log);
    let history = audit_history_bytes_per_key(redis, seeded).await?;
    println!(
        "redis memory right after seeding: record + indexes = {:.0} bytes per key \
         (used_memory +{:.1} MiB = {:.0} bytes per key, less the capped logs; of it each key's \
         own audit history ≈ {history:.0} bytes)",
        own as f64 / keys,
        mib(grown / 1024),
        grown as f64 / keys
    );
    println!(
        "  capped logs: listing change stream {:.1} MiB ({:.0} bytes per key at this count), \
         audit log {:.1} MiB ({:.0} bytes per key at this count)",
        mib(after.logs[0] / 1024),
        changes as f64 / keys,
        mib(after.logs[1] / 1024),
        audit_log as f64 / keys
    );
    Ok(())
}

/// Bytes per key of the keys' own audit history: the average `MEMORY USAGE` of the sampled
/// keys' history lists (or the previous release's per-key streams; a key without one counts
/// 0). A key never changed has none: its creation entry is in the audit log, and the entry's id
/// in its record (so in "record + indexes"); the previous release's hash of those ids counts
/// too when a Redis still has one.
async fn audit_history_bytes_per_key(redis: &RedisServer, seeded: &Seeded) -> BenchResult<f64> {
    let mut conns = nodes(redis).await?;
    let mut sum = 0u64;
    let mut sampled = 0u64;
    for (id, _) in seeded.sample.iter().take(200) {
        sampled += 1;
        for name in [
            format!("kw:{{audit}}:h:{id}"),
            format!("kw:{{audit}}:key:{id}"),
        ] {
            sum += memory_usage(&mut conns, &name).await;
        }
    }
    let legacy_creations = memory_usage(&mut conns, "kw:{audit}:created").await;
    let per_key_lists = if sampled == 0 {
        0.0
    } else {
        sum as f64 / sampled as f64
    };
    Ok(per_key_lists + legacy_creations as f64 / seeded.keys.max(1) as f64)
}

/// p99 of check-only verifies from `VERIFY_WORKERS` workers for `VERIFY_SECS`; with
/// `dashboard`, one more task loops dashboard list queries meanwhile. Returns (p99 ms,
/// verifies per second, dashboard queries run).
async fn verify_p99(
    api: &Api,
    secret: &str,
    dashboard: Option<Api>,
) -> BenchResult<(f64, f64, usize)> {
    let stop = Arc::new(AtomicBool::new(false));
    let queries = Arc::new(AtomicUsize::new(0));
    let mut loop_task = None;
    if let Some(dashboard) = dashboard {
        let (stop, queries) = (stop.clone(), queries.clone());
        loop_task = Some(tokio::spawn(async move {
            let all: Vec<String> = filters()
                .into_iter()
                .flat_map(|(_, f)| SORTS.map(|s| format!("{f}&sort={s}&order=desc&perPage=50")))
                .collect();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let url = format!(
                    "{}/api/v1/admin/keys?{}",
                    dashboard.base_url,
                    all[n % all.len()]
                );
                dashboard.admin_get(&url).await?;
                queries.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            Ok::<(), String>(())
        }));
    }
    let body = crate::api::verify_body(secret, false);
    let deadline = Instant::now() + Duration::from_secs(VERIFY_SECS);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..VERIFY_WORKERS {
        let (api, body) = (api.clone(), body.clone());
        workers.spawn(async move {
            let url = format!("{}/api/v1/keys/verify", api.base_url);
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let response = api
                    .client
                    .post(&url)
                    .bearer_auth(SERVICE_TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .context("verify")?;
                let status = response.status();
                response.bytes().await.context("verify body")?;
                if !status.is_success() {
                    return Err(format!("verify answered {status}"));
                }
                samples.push(ms_since(started));
            }
            Ok::<_, String>(samples)
        });
    }
    let mut samples = Vec::new();
    while let Some(joined) = workers.join_next().await {
        samples.extend(joined.context("a verify worker panicked")??);
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(task) = loop_task {
        task.await.context("the dashboard loop panicked")??;
    }
    let rate = samples.len() as f64 / VERIFY_SECS as f64;
    Ok((p99(samples), rate, queries.load(Ordering::Relaxed)))
}

/// The listing index alone, in this process, at `keys` synthetic keys shaped like the seeded
/// ones: build time, heap growth (RSS) per key and p99 of every filter × sort × order, so the
/// index's own cost is known at sizes the HTTP seeding has no time for.
pub fn index_figures(keys: usize) -> BenchResult<()> {
    use keyward::domain::ids::KeyId;
    use keyward::domain::key::KeyStatus;
    use keyward::domain::listing::{ListQuery, SortField};
    use keyward::domain::listing_index::{IndexedKey, ListingIndex};

    let rss_before = read_memory(std::process::id())?.current_kib;
    let started = Instant::now();
    let mut index = ListingIndex::new();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    for n in 0..keys {
        let batch = n / BATCH;
        let word = if batch.is_multiple_of(NEEDLE_EVERY) {
            NEEDLE
        } else {
            [
                "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
            ][batch % 7]
        };
        let id = KeyId::new();
        index.upsert(IndexedKey {
            id,
            name: format!("team{batch} {word}-{:03}", n % BATCH + 1),
            tags: vec![
                TAGS[batch % TAGS.len()].to_string(),
                TAGS[(batch / TAGS.len()) % TAGS.len()].to_string(),
            ],
            active: batch % 10 != 3,
            expires_at_ms: (batch % 10 == 7).then_some(now_ms - 1000),
            created_at_ms: now_ms - (keys - n) as i64,
            last_used_at_ms: 0,
        });
        if n % 50 == 0 {
            index.record_usage(id, now_ms - n as i64, &today, (n % 997) as i64 + 1);
        }
    }
    let built = started.elapsed();
    let rss_after = read_memory(std::process::id())?.current_kib;
    println!(
        "listing index alone, {keys} keys: built in {:.1} s, RSS +{:.1} MiB = {:.0} bytes per key",
        built.as_secs_f64(),
        mib(rss_after.saturating_sub(rss_before)),
        (rss_after.saturating_sub(rss_before) * 1024) as f64 / keys as f64
    );
    let statuses = [
        (None, ""),
        (Some(KeyStatus::Active), "status=active"),
        (Some(KeyStatus::Disabled), "status=disabled"),
        (Some(KeyStatus::Expired), "status=expired"),
    ];
    let searches = [None, Some(NEEDLE), Some("team1"), Some("a"), Some("team")];
    let tags = std::iter::once(None).chain(TAGS.iter().map(|t| Some(*t)));
    let mut combos = Vec::new();
    for tag in tags {
        for search in searches {
            for (status, status_label) in statuses {
                // Every single filter, plus the combinations the dashboard is likeliest to send.
                let given = [tag.is_some(), search.is_some(), status.is_some()]
                    .iter()
                    .filter(|g| **g)
                    .count();
                let combined = tag == Some("prod")
                    && matches!(
                        (search, status_label),
                        (None, "status=active")
                            | (Some("team1"), "")
                            | (Some("team1" | "team" | NEEDLE), "status=active")
                    );
                if (given <= 1 && search != Some("team")) || combined {
                    combos.push((tag, search, status, status_label));
                }
            }
        }
    }
    // Per filter and page depth: every sort × order, `RUNS` timings each.
    const RUNS: usize = 5;
    let depths = ["page 1", "offset total/4", "middle", "last page"];
    let mut worst = (0.0f64, String::new());
    let mut by_filter: BTreeMap<(String, usize), Vec<f64>> = BTreeMap::new();
    for (tag, search, status, status_label) in combos {
        let label = format!(
            "{}{}{}",
            tag.map(|t| format!("tag={t} ")).unwrap_or_default(),
            search.map(|q| format!("q={q} ")).unwrap_or_default(),
            status_label
        );
        let label = if label.trim().is_empty() {
            "no filter".to_string()
        } else {
            label.trim().to_string()
        };
        for sort in [
            SortField::CreatedAt,
            SortField::Name,
            SortField::LastUsedAt,
            SortField::DailyCost,
        ] {
            for descending in [false, true] {
                let mut query = ListQuery {
                    sort,
                    descending,
                    offset: 0,
                    count: 50,
                    tag: tag.map(str::to_string),
                    status,
                    search: search.map(str::to_string),
                };
                let (total, _) = index.list(&query, now_ms, &today);
                let offsets = [0, total / 4, total / 2, total.saturating_sub(50)];
                for (depth, offset) in offsets.into_iter().enumerate() {
                    query.offset = offset;
                    let mut samples = Vec::new();
                    for _ in 0..RUNS {
                        let started = Instant::now();
                        let (total, page) = index.list(&query, now_ms, &today);
                        std::hint::black_box((total, page));
                        samples.push(ms_since(started));
                    }
                    let combo = p99(samples.clone());
                    if combo > worst.0 {
                        worst = (
                            combo,
                            format!(
                                "{label} sort={sort:?} desc={descending} offset={offset} of {total}"
                            ),
                        );
                    }
                    by_filter
                        .entry((label.clone(), depth))
                        .or_default()
                        .extend(samples);
                }
            }
        }
    }
    println!(
        "listing index alone, page of 50, every sort × order ({RUNS} runs each): p50 / p99 per filter and depth"
    );
    for ((label, depth), samples) in &by_filter {
        println!(
            "  {label:<34} {:<15} p50 {:>6.2} ms  p99 {:>6.2} ms",
            depths[*depth],
            p50(samples.clone()),
            p99(samples.clone())
        );
    }
    println!("  worst combination: p99 {:.2} ms ({})", worst.0, worst.1);
    Ok(())
}
