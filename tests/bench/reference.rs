//! The reference verify: a server doing only what any verify must (axum, JSON in and out,
//! SHA-256 of the key, one `EVALSHA` of an `HMGET` against the bench's Redis), so that every run
//! can state keyward's hot paths as a share of what this machine allows.
//!
//! It runs in its own process, as keyward does: this bench executable started again with
//! `BENCH_REFERENCE_REDIS` set. So it is built by the same `cargo bench` in the same release
//! profile, with the same allocator (mimalloc, as keyward's binary), on its own tokio runtime
//! with one worker per CPU (keyward's default), and wrk drives it exactly as it drives keyward.
//! In-process it would share its runtime, allocator and scheduler with the bench driver; a
//! second `[[bin]]` is ruled out by the contract (one binary, `keyward`), and an example target
//! would need a separate `cargo build` the bench cannot rely on.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use redis::aio::ConnectionManager;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::harness::SERVICE_TOKEN;
use crate::{BenchResult, Context};

/// Set (to keyward's Redis URL) in the reference's environment: the process then serves.
const REDIS_VAR: &str = "BENCH_REFERENCE_REDIS";
/// The secret of the one key the reference knows (the bench's check-only key).
const SECRET_VAR: &str = "BENCH_REFERENCE_SECRET";
/// Mixed into the key's hash as keyward does with its encryption key.
const HASH_SECRET: &str = "bench-reference-encryption-key";
const LISTENING: &str = "reference listening on ";
/// The fields any verify must read: the hash it compares, the id it answers, and the
/// active, expiry and permission checks.
const VERIFY_SCRIPT: &str =
    "return redis.call('HMGET', KEYS[1], 'hash', 'id', 'name', 'isActive', 'expiresAt', 'permissions')";

/// The running reference server; killed when dropped.
pub struct Reference {
    pub address: String,
    child: Child,
}

impl Reference {
    /// Starts the reference against `redis_url` (keyward's URL: one node, or the cluster's
    /// nodes comma-separated), knowing the key `secret`.
    pub fn start(redis_url: &str, secret: &str) -> BenchResult<Reference> {
        let exe = std::env::current_exe().context("finding the bench executable")?;
        let mut child = Command::new(exe)
            .env(REDIS_VAR, redis_url)
            .env(SECRET_VAR, secret)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the reference server")?;
        let stdout = child.stdout.take().ok_or("the reference has no stdout")?;
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix(LISTENING) {
                    let _ = address_tx.send(address.to_string());
                }
            }
        });
        match address_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(address) => {
                println!("reference verify server listening on {address}");
                Ok(Reference { address, child })
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err("the reference server did not start within 20 s".to_string())
            }
        }
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves as the reference when this process was started as one; `None` otherwise.
pub fn serve_if_asked() -> Option<ExitCode> {
    let redis_url = std::env::var(REDIS_VAR).ok()?;
    let Ok(secret) = std::env::var(SECRET_VAR) else {
        eprintln!("reference: {SECRET_VAR} is not set");
        return Some(ExitCode::FAILURE);
    };
    // As keyward's `Runtime::new()`: multi-threaded, one worker per CPU.
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("reference: cannot start the runtime: {e}");
            return Some(ExitCode::FAILURE);
        }
    };
    Some(match runtime.block_on(serve(&redis_url, &secret)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("reference failed: {message}");
            ExitCode::FAILURE
        }
    })
}

/// One multiplexed connection, as keyward holds.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

#[derive(Clone)]
struct ReferenceState {
    conn: Conn,
    script: std::sync::Arc<redis::Script>,
    bearer: std::sync::Arc<str>,
}

async fn serve(redis_url: &str, secret: &str) -> BenchResult<()> {
    let nodes: Vec<&str> = redis_url.split(',').collect();
    let conn = if nodes.len() > 1 {
        let client = ClusterClient::new(nodes).context("reference: cluster client")?;
        Conn::Cluster(
            client
                .get_async_connection()
                .await
                .context("reference: connecting to the cluster")?,
        )
    } else {
        let client = redis::Client::open(redis_url).context("reference: redis client")?;
        Conn::Single(
            ConnectionManager::new(client)
                .await
                .context("reference: connecting to redis")?,
        )
    };
    let hash = key_hash(secret);
    let record = record_name(&hash);
    let fields = [
        ("hash", hash.as_str()),
        ("id", "00000000-0000-4000-8000-000000000000"),
        ("name", "bench-reference"),
        ("isActive", "1"),
        ("expiresAt", ""),
        ("permissions", "all"),
    ];
    match conn.clone() {
        Conn::Single(mut c) => redis::cmd("HSET")
            .arg(&record)
            .arg(&fields)
            .query_async::<i64>(&mut c)
            .await
            .context("reference: writing its key")?,
        Conn::Cluster(mut c) => redis::cmd("HSET")
            .arg(&record)
            .arg(&fields)
            .query_async::<i64>(&mut c)
            .await
            .context("reference: writing its key")?,
    };
    let state = ReferenceState {
        conn,
        script: std::sync::Arc::new(redis::Script::new(VERIFY_SCRIPT)),
        bearer: format!("Bearer {SERVICE_TOKEN}").into(),
    };
    let app = Router::new()
        .route("/api/v1/keys/verify", post(verify))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("reference: binding")?;
    let address = listener.local_addr().context("reference: its address")?;
    println!("{LISTENING}http://{address}");
    axum::serve(listener, app)
        .await
        .context("reference: serving")
}

fn key_hash(secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(secret.as_bytes());
    hasher.update(HASH_SECRET.as_bytes());
    hex::encode(hasher.finalize())
}

fn record_name(hash: &str) -> String {
    format!("bench:ref:{{{hash}}}")
}

/// The same body keyward's verify takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Parsed as keyward parses it; only `key` and `service` are checked.
struct VerifyBody {
    key: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    acquire: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Verified<'a> {
    valid: bool,
    key_id: &'a str,
    key_data: KeyData<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyData<'a> {
    id: &'a str,
    name: &'a str,
    is_active: bool,
    expires_at: Option<&'a str>,
    permissions: &'a str,
}

#[derive(Serialize)]
struct Refused {
    valid: bool,
    error: &'static str,
}

fn refused(status: StatusCode) -> Response {
    (
        status,
        Json(Refused {
            valid: false,
            error: "refused",
        }),
    )
        .into_response()
}

async fn verify(
    State(state): State<ReferenceState>,
    headers: HeaderMap,
    Json(body): Json<VerifyBody>,
) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == state.bearer.as_bytes());
    if !authorized {
        return refused(StatusCode::UNAUTHORIZED);
    }
    let hash = key_hash(&body.key);
    let invocation = state.script.key(record_name(&hash));
    let reply: redis::RedisResult<Vec<Option<String>>> = match state.conn.clone() {
        Conn::Single(mut c) => invocation.invoke_async(&mut c).await,
        Conn::Cluster(mut c) => invocation.invoke_async(&mut c).await,
    };
    let Ok(fields) = reply else {
        return refused(StatusCode::SERVICE_UNAVAILABLE);
    };
    let [Some(stored_hash), Some(id), Some(name), active, expires_at, permissions] = &fields[..]
    else {
        return refused(StatusCode::UNAUTHORIZED);
    };
    let expires_at = expires_at.as_deref().filter(|at| !at.is_empty());
    let permissions = permissions.as_deref().unwrap_or("all");
    let service_allowed = match body.service.as_deref() {
        None => true,
        Some(service) => permissions == "all" || permissions.split(',').any(|p| p == service),
    };
    // The expiry is compared as keyward's script does, in ms since the epoch.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let expired = expires_at
        .and_then(|at| at.parse::<u128>().ok())
        .is_some_and(|at| at <= now_ms);
    if *stored_hash != hash || active.as_deref() != Some("1") || expired || !service_allowed {
        return refused(StatusCode::FORBIDDEN);
    }
    Json(Verified {
        valid: true,
        key_id: id,
        key_data: KeyData {
            id,
            name,
            is_active: true,
            expires_at,
            permissions,
        },
    })
    .into_response()
}
