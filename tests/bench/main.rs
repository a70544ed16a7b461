//! End-to-end benchmark: keyward's relay and admin APIs against a Redis of its own, compared with
//! raw Redis. Prints figures and targets; never asserts timing (`cargo bench --bench keyward`).
//!
//! `BENCH_REDIS=cluster` runs on a 3-master Redis Cluster, `BENCH_INSTANCES=2` runs two keyward
//! processes on the same Redis, and `BENCH_SOAK_SECS=N` adds a bounded soak whose usage totals
//! must match exactly what was acknowledged (the only part that fails the run).
//!
//! Redis and keyward are started by the integration tests' harness (`harness`); a failure to
//! start them panics there, which fails the run like any other error.

mod api;
mod config;
mod harness;
mod latency;
mod machine;
mod memory;
mod ratios;
mod reference;
mod report;
mod scale;
mod seed;
mod soak;
mod soak_report;
mod wrk;

use std::fmt::Display;
use std::process::ExitCode;

use serde_json::json;

use api::Api;
use config::BenchConfig;
use machine::RedisGet;
use ratios::{HotPaths, ReferenceRuns};
use reference::Reference;
use report::{Figures, Setup};
use wrk::WrkLoad;

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

const MODEL: &str = "claude-sonnet-4-5";
/// The unmeasured wrk run each server gets before the measured ones.
const WARM_UP_SECS: u64 = 2;

/// keyward's allocator, so the reference server (this executable started again) uses it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if let Some(exit) = reference::serve_if_asked() {
        return exit;
    }
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
    // `BENCH_INDEX_ONLY=1`: only the in-process listing index at BENCH_KEYS keys (no servers).
    if std::env::var("BENCH_INDEX_ONLY").is_ok() {
        return scale::index_figures(scale::bench_keys()?);
    }
    harness::require_tools()?;
    println!("configuration: {}", config.describe());
    // Declared first so it is removed last, after all servers are gone.
    let scratch = tempfile::tempdir().context("creating a temporary directory")?;

    let redis = harness::start_redis(config.redis);
    println!("{}", harness::describe_redis(config.redis, &redis));
    let redis_get = machine::redis_get_benchmark(config.redis, &redis).await?;
    println!(
        "redis-benchmark GET: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms",
        redis_get.rps, redis_get.p50_ms, redis_get.p99_ms
    );

    let instances =
        harness::start_instances(&redis.url(), &scratch.path().join("data"), config.instances);
    let apis = instances
        .iter()
        .map(|keyward| Api::new(&keyward.address))
        .collect::<BenchResult<Vec<Api>>>()?;
    let pids = instances
        .iter()
        .map(|keyward| keyward.pid().ok_or("a keyward instance is not running"))
        .collect::<Result<Vec<u32>, _>>()?;
    let first_pid = *pids.first().ok_or("no keyward instance started")?;
    let wrk_dir = scratch.path().join("wrk");
    std::fs::create_dir_all(&wrk_dir).context("creating the wrk script directory")?;
    let load = WrkLoad {
        apis: &apis,
        dir: &wrk_dir,
        secs: config.wrk_secs,
    };

    let bench_keys = scale::bench_keys()?;
    let memory_before_seed = scale::MemoryMark::take(&redis).await?;
    let (figures, reference, seeded) =
        measure(&load, &redis, first_pid, redis_get, bench_keys).await?;
    let setup = Setup {
        configuration: config.describe(),
        cpus: machine::cpu_count(),
        redis_version: machine::redis_version(),
        redis_get_label: machine::benchmark_label(config.redis),
        wrk_shape: wrk::wrk_shape(config.instances),
        wrk_secs: config.wrk_secs,
        memory_of: report::memory_owner(config.instances),
    };
    report::print_summary(&setup, &figures);
    ratios::print_ratios(
        &reference,
        &HotPaths {
            verify_check: &figures.verify_check,
            verify_admit: &figures.verify_admit,
            usage: &figures.usage,
        },
    );
    let api = apis.first().ok_or("no keyward instance to measure")?;
    scale::run(api, &redis, first_pid, &seeded, memory_before_seed).await?;

    if let Some(soak_secs) = config.soak_secs {
        let report = soak::soak(&apis, &pids, soak_secs).await?;
        report.print();
        report.verdict()?;
    }
    Ok(())
}

/// Seeds the keys and takes every figure of the summary, with the reference verify's runs
/// around keyward's; all but the wrk runs go to the first instance (`keyward_pid` is its
/// process, for memory).
async fn measure(
    load: &WrkLoad<'_>,
    redis: &harness::RedisServer,
    keyward_pid: u32,
    redis_get: RedisGet,
    bench_keys: usize,
) -> BenchResult<(Figures, ReferenceRuns, scale::Seeded)> {
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
    let seeded = scale::seed(api, redis, bench_keys - 2).await?;
    println!(
        "seeded {} keys in {:.1} s ({:.0} keys/s)",
        seeded.keys,
        seeded.elapsed.as_secs_f64(),
        seeded.rate()
    );

    let verify_path = "/api/v1/keys/verify";
    let check_body = api::verify_body(&key_a.secret, false);
    let admit_body = api::verify_body(&key_b.secret, true);
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
    // The same check-only body, against a server that does only what any verify must.
    let reference = Reference::start(&redis.url(), &key_a.secret)?;
    let reference_apis = [Api::new(&reference.address)?];
    let reference_load = WrkLoad {
        apis: &reference_apis,
        dir: load.dir,
        secs: load.secs,
    };
    // Both servers are warmed up first (connections, allocator, script cache, the key's cached
    // record), so neither measured run pays for starting.
    for (name, warm_load) in [
        ("reference-warm-up", &reference_load),
        ("verify-warm-up", load),
    ] {
        WrkLoad {
            secs: WARM_UP_SECS,
            ..*warm_load
        }
        .run(name, verify_path, &check_body)
        .await?;
    }
    let reference_before = reference_load
        .run("reference-before", verify_path, &check_body)
        .await?;
    let verify_check = load.run("verify-check", verify_path, &check_body).await?;
    let verify_admit = load.run("verify-admit", verify_path, &admit_body).await?;
    let usage = load.run("usage", "/api/v1/usage", &usage_body).await?;
    let reference_after = reference_load
        .run("reference-after", verify_path, &check_body)
        .await?;
    drop(reference);

    let list_page = api.list_latency("list page 1", "page=1&perPage=50").await?;
    let search = api
        .list_latency(
            "search q=needle",
            &format!("page=1&perPage=50&q={}", scale::NEEDLE),
        )
        .await?;
    let deep_page = api
        .list_latency(
            "page 100 by name",
            "page=100&perPage=50&sort=name&order=asc",
        )
        .await?;

    // Memory of the API workload, then after the dashboard phase: a sign-in hashes with
    // argon2id at its default 19 MiB memory cost, which shows in the peak on its own.
    let memory = memory::read_memory(keyward_pid)?;
    let dashboard_page = latency::dashboard_latency(&api.base_url).await?;
    let memory_with_dashboard = memory::read_memory(keyward_pid)?;
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
    let reference = ReferenceRuns {
        before: reference_before,
        after: reference_after,
    };
    Ok((figures, reference, seeded))
}
