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
