//! Sequential latency of the admin key list, search and the dashboard's key page: 200 timed
//! requests after 20 warm-ups, each checked for a full answer.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::Api;
use crate::harness::ADMIN_PASSWORD;
use crate::{BenchResult, Context};

const LATENCY_WARMUP: usize = 20;
const LATENCY_SAMPLES: usize = 200;

pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
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
pub fn percentile(sorted: &[f64], pct: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Api {
    /// Times sequential GETs of the key list; each must answer 200.
    pub async fn list_latency(&self, label: &'static str, query: &str) -> BenchResult<Latency> {
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
}

/// Signs in to the dashboard like a browser, then times the server-rendered key list with
/// 50 rows (HTML, the same data as the API's list plus the template).
pub async fn dashboard_latency(base_url: &str) -> BenchResult<Latency> {
    let client = sign_in(base_url).await?;
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

/// A client signed in to the dashboard (its session cookie kept).
pub async fn sign_in(base_url: &str) -> BenchResult<reqwest::Client> {
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
    Ok(client)
}
