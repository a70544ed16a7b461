//! Several keyward instances on one Redis (single node or cluster): limits and totals hold
//! across them.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::app::SERVICE_TOKEN;
use crate::support::TestApp;

async fn post(http: &reqwest::Client, url: String, body: &Value) -> StatusCode {
    http.post(url)
        .bearer_auth(SERVICE_TOKEN)
        .json(body)
        .send()
        .await
        .map(|r| r.status())
        .expect("sent")
}

#[tokio::test]
async fn admissions_split_across_two_instances_never_exceed_the_limit() {
    let app = TestApp::spawn().await;
    let second = app.second_instance();
    let (id, secret) = app
        .create_key(json!({"name": "shared", "concurrencyLimit": 5}))
        .await;
    let body = json!({"key": secret, "acquire": true});
    let calls = (0..100).map(|i| {
        let base = if i % 2 == 0 {
            app.url("/api/v1/keys/verify")
        } else {
            second.url("/api/v1/keys/verify")
        };
        post(&app.http, base, &body)
    });
    let statuses = join_all(calls).await;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 5);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        95
    );
    assert_eq!(app.get_key(&id).await["currentConcurrency"], 5);
}

#[tokio::test]
async fn usage_recorded_through_two_instances_adds_up_exactly() {
    let app = TestApp::spawn().await;
    let second = app.second_instance();
    let (id, _) = app.create_key(json!({"name": "shared"})).await;
    let body = json!({"keyId": id, "accountId": "acct-shared", "model": "claude-sonnet-4-5",
                      "usage": {"input_tokens": 7, "output_tokens": 3}});
    let calls = (0..400).map(|i| {
        let base = if i % 2 == 0 {
            app.url("/api/v1/usage")
        } else {
            second.url("/api/v1/usage")
        };
        post(&app.http, base, &body)
    });
    assert!(join_all(calls).await.iter().all(|s| *s == StatusCode::OK));
    let key = app.get_key(&id).await;
    assert_eq!(key["usage"]["total"]["requests"], 400);
    assert_eq!(key["usage"]["total"]["inputTokens"], 2800);
    // claude-sonnet-4-5: 7 × 3000 + 3 × 15000 nano-USD per record.
    assert_eq!(
        key["usage"]["total"]["costNanoUsd"],
        400 * (7 * 3000 + 3 * 15_000)
    );
}

#[tokio::test]
async fn keys_spread_over_the_cluster_nodes() {
    if !crate::support::redis::cluster_mode() {
        return; // Only meaningful against Redis Cluster.
    }
    let app = TestApp::spawn().await;
    for n in 0..12 {
        app.create_key(json!({"name": format!("k{n}")})).await;
    }
    let per_node = app.redis.keys_per_node();
    assert_eq!(per_node.len(), 3);
    assert!(
        per_node.iter().filter(|n| **n > 0).count() >= 2,
        "{per_node:?}"
    );
}

#[tokio::test]
async fn sigterm_finishes_requests_in_flight_and_cuts_nothing_half_written() {
    let app = TestApp::spawn().await;
    let mut second = app.second_instance();
    let (id, _) = app.create_key(json!({"name": "drain"})).await;
    let body = json!({"keyId": id, "model": "claude-sonnet-4-5", "usage": {"input_tokens": 1, "output_tokens": 1}});
    let url = second.url("/api/v1/usage");
    let http = app.http.clone();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = answered.clone();
    let load = tokio::spawn(async move {
        let calls = (0..600).map(|_| {
            let (http, url, body, counter) =
                (http.clone(), url.clone(), body.clone(), counter.clone());
            async move {
                let response = http
                    .post(url)
                    .bearer_auth(SERVICE_TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .ok()?;
                // A response counts only if it arrived whole.
                let status = response.status();
                let whole = response.json::<Value>().await.ok().map(|_| status);
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                whole
            }
        });
        join_all(calls).await
    });
    // Signal once the load is flowing, so requests are in flight at that moment.
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert!(second.terminate(), "keyward exits cleanly on SIGTERM");
    let outcomes = load.await.expect("load ran");
    let acknowledged = outcomes
        .iter()
        .filter(|o| **o == Some(StatusCode::OK))
        .count() as u64;
    eprintln!("SIGTERM during load: {acknowledged} of 600 records answered, the rest refused");
    assert!(
        outcomes.iter().flatten().all(|s| *s == StatusCode::OK),
        "no error answers, only refused connections"
    );
    let recorded = app.get_key(&id).await["usage"]["total"]["requests"]
        .as_u64()
        .expect("count");
    assert_eq!(
        recorded, acknowledged,
        "every record applied was answered, and only those"
    );
}

#[tokio::test]
async fn a_dead_cluster_node_fails_only_its_own_keys() {
    if !crate::support::redis::cluster_mode() {
        return; // Only meaningful against Redis Cluster.
    }
    let mut app = TestApp::spawn().await;
    let mut keys = Vec::new();
    for n in 0..12 {
        let (id, secret) = app.create_key(json!({"name": format!("k{n}")})).await;
        // Verify once so keyward knows the secret's key id (the lookup may live on the dead node).
        assert_eq!(app.verify(json!({"key": secret})).await.0, StatusCode::OK);
        let node = app
            .redis
            .node_holding(&format!("kw:{{k:{id}}}:key"))
            .expect("stored");
        keys.push((secret, node));
    }
    let victim = keys[0].1;
    assert!(
        keys.iter().any(|(_, node)| *node != victim),
        "keys on more than one node"
    );
    app.redis.kill_node(victim);
    for wait_ms in [0, 4000] {
        // Right after the crash, and after the cluster marked the node failed.
        tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
        for (secret, node) in &keys {
            let (status, body) = app.verify(json!({"key": secret})).await;
            if *node == victim {
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            } else {
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "a key on a live node still verifies: {body}"
                );
            }
        }
    }
}
