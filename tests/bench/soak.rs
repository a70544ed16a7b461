//! Soak: mixed traffic for a fixed time (admission with a lease, usage releasing it, an admin
//! listing keys now and then), then the key's usage totals, which must match exactly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::{Api, CreatedKey};
use crate::harness::{ADMIN_TOKEN, SERVICE_TOKEN};
use crate::memory::current_rss_kib;
use crate::soak_report::{soak_checks, SoakReport, SoakTally};
use crate::{BenchResult, Context};

pub const SOAK_WORKERS: usize = 48;
/// Every this-many iteration a worker also lists keys, as an admin would meanwhile.
const SOAK_LIST_EVERY: u64 = 20;
/// Below the number of workers, so admission refusals are part of the traffic.
pub const SOAK_CONCURRENCY_LIMIT: u64 = 40;
pub const SOAK_MODEL: &str = "claude-haiku-4-5";
pub const SOAK_INPUT_TOKENS: u64 = 10;
pub const SOAK_OUTPUT_TOKENS: u64 = 5;
pub const SOAK_CACHE_READ_TOKENS: u64 = 3;

/// Runs the soak against a key of its own and reads that key's totals afterwards. Workers
/// alternate between the instances; the key is created on and read from the first.
pub async fn soak(apis: &[Api], pids: &[u32], secs: u64) -> BenchResult<SoakReport> {
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
