//! What keyward writes to its log: one line per request with its route template, status and
//! latency, never a secret, and plain text when nobody watches a terminal.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::app::{keyward_command, ADMIN_TOKEN, SERVICE_TOKEN};
use crate::support::RedisServer;

/// Collects a pipe's lines on a thread.
fn collect(pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            sink.lock().expect("lock").push(line);
        }
    });
    lines
}

async fn wait_for(lines: &Mutex<Vec<String>>, what: &str, found: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(line) = lines.lock().expect("lock").iter().find(|l| found(l)) {
            return line.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no log line: {what}: {:?}",
            lines.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn requests_are_logged_by_route_status_and_latency_in_plain_text_without_secrets() {
    let redis = RedisServer::start();
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = keyward_command(&redis.url(), data.path(), &[("RUST_LOG", "info")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keyward runs");
    let stdout = collect(child.stdout.take().expect("stdout"));
    let stderr = collect(child.stderr.take().expect("stderr"));
    let listening = wait_for(&stdout, "address", |l| {
        l.starts_with("keyward listening on ")
    })
    .await;
    let base = listening
        .trim_start_matches("keyward listening on ")
        .to_string();
    let http = reqwest::Client::new();

    let created: Value = http
        .post(format!("{base}/api/v1/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "logged"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let secret = created["apiKey"].as_str().expect("secret").to_string();
    let id = created["key"]["id"].as_str().expect("id").to_string();
    let verified = http
        .post(format!("{base}/api/v1/keys/verify"))
        .bearer_auth(SERVICE_TOKEN)
        .json(&json!({"key": secret}))
        .send()
        .await
        .expect("sent");
    assert_eq!(verified.status(), 200);
    // A secret in a query string does not reach the log either.
    let searched = http
        .get(format!("{base}/api/v1/admin/keys?q={secret}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(searched.status(), 200);
    let missing = http
        .get(format!("{base}/api/v1/admin/keys/{id}x"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 404);

    let verify_line = wait_for(&stderr, "verify request", |l| {
        l.contains("route=/api/v1/keys/verify") && l.contains("status=200")
    })
    .await;
    assert!(verify_line.contains("method=POST"), "{verify_line}");
    assert!(verify_line.contains("latency="), "{verify_line}");
    let by_template = wait_for(&stderr, "key request", |l| {
        l.contains("route=/api/v1/admin/keys/{id}") && l.contains("status=404")
    })
    .await;
    assert!(
        !by_template.contains(&id),
        "the path's id is not logged: {by_template}"
    );
    wait_for(&stderr, "search request", |l| {
        l.contains("route=/api/v1/admin/keys}") && l.contains("status=200")
    })
    .await;

    let _ = child.kill();
    let _ = child.wait();
    let log = stderr.lock().expect("lock").join("\n");
    for hidden in [secret.as_str(), ADMIN_TOKEN, SERVICE_TOKEN] {
        assert!(!log.contains(hidden), "the log holds a secret: {log}");
    }
    assert!(
        !log.contains('\u{1b}'),
        "piped logs carry no terminal colour codes: {log}"
    );
}
