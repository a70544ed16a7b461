//! `waitMs`: a verify that finds concurrency full waits for a slot, first come first served,
//! woken by a release (on any instance), bounded per key.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::app::SERVICE_TOKEN;
use crate::support::TestApp;

async fn verify_at(http: &reqwest::Client, url: String, body: Value) -> (StatusCode, Value) {
    let response = http
        .post(url)
        .bearer_auth(SERVICE_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

fn waiters(app: &TestApp, id: &str) -> usize {
    app.redis
        .cli(&["ZCARD", &format!("kw:{{k:{id}}}:waiters")])
        .trim()
        .parse()
        .expect("a count")
}

/// Waits until `count` requests are queued for the key.
async fn until_queued(app: &TestApp, id: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while waiters(app, id) < count {
        assert!(Instant::now() < deadline, "never {count} waiters");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn release(app: &TestApp, lease: &str) {
    let status = app
        .http
        .delete(app.url(&format!("/api/v1/leases/{lease}")))
        .bearer_auth(SERVICE_TOKEN)
        .send()
        .await
        .expect("sent")
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
}

fn lease_of(body: &Value) -> String {
    body["lease"]["id"].as_str().expect("a lease").to_string()
}

#[tokio::test]
async fn a_waiter_gets_the_slot_when_it_is_released() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "w", "concurrencyLimit": 1}))
        .await;
    let (_, held) = app.admit(&secret).await;
    let waiter = tokio::spawn({
        let http = app.http.clone();
        let url = app.url("/api/v1/keys/verify");
        let body = json!({"key": secret, "acquire": true, "waitMs": 20000});
        async move {
            let answer = verify_at(&http, url, body).await;
            (answer, Instant::now())
        }
    });
    until_queued(&app, &id, 1).await;
    // A request that does not wait is refused at once while someone waits.
    assert_eq!(app.admit(&secret).await.0, StatusCode::TOO_MANY_REQUESTS);
    let released = Instant::now();
    release(&app, &lease_of(&held)).await;
    let ((status, body), answered) = waiter.await.expect("joined");
    assert_eq!(status, StatusCode::OK, "{body}");
    let after_release = answered.duration_since(released);
    println!("waiter admitted {after_release:?} after the release");
    // Woken by the release, not by the lease's expiry (10 minutes) or its waitMs (20 s).
    assert!(after_release < Duration::from_secs(2), "{after_release:?}");
    assert_eq!(waiters(&app, &id), 0);
    assert_eq!(app.get_key(&id).await["currentConcurrency"], 1);
}

#[tokio::test]
async fn waiters_are_served_in_arrival_order_and_bounded() {
    let app = TestApp::spawn_with(&[("KEYWARD_MAX_WAITERS_PER_KEY", "3")]).await;
    let (id, secret) = app
        .create_key(json!({"name": "f", "concurrencyLimit": 1}))
        .await;
    let (_, held) = app.admit(&secret).await;
    let mut queued = Vec::new();
    for n in 0..3 {
        let http = app.http.clone();
        let url = app.url("/api/v1/keys/verify");
        let body = json!({"key": secret, "acquire": true, "waitMs": 30000});
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let answer = verify_at(&http, url, body).await;
            let _ = tx.send(answer);
        });
        until_queued(&app, &id, n + 1).await;
        queued.push(rx);
    }
    // The queue is full: the next waiter is refused at once, not after its waitMs.
    let asked = Instant::now();
    let (status, body) = verify_at(
        &app.http,
        app.url("/api/v1/keys/verify"),
        json!({"key": secret, "acquire": true, "waitMs": 30000}),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "concurrency_limit");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );

    // Each release admits the next waiter in the order they came.
    let mut lease = lease_of(&held);
    for mut answer in queued {
        // Not yet: the slot is held.
        assert!(answer.try_recv().is_err());
        release(&app, &lease).await;
        let (status, body) = answer.await.expect("answered");
        assert_eq!(status, StatusCode::OK, "{body}");
        lease = lease_of(&body);
    }
    assert_eq!(waiters(&app, &id), 0);
}

#[tokio::test]
async fn a_waiter_whose_wait_runs_out_is_refused_and_leaves_the_queue() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "t", "concurrencyLimit": 1}))
        .await;
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    let asked = Instant::now();
    let response = app
        .http
        .post(app.url("/api/v1/keys/verify"))
        .bearer_auth(SERVICE_TOKEN)
        .json(&json!({"key": secret, "acquire": true, "waitMs": 300}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(asked.elapsed() >= Duration::from_millis(300), "it waited");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "concurrency_limit");
    assert_eq!(waiters(&app, &id), 0);
    // Without waiters left, a freed slot goes to the next request straight away.
    let (_, leases) = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/keys/{id}/leases"),
            None,
        )
        .await;
    assert_eq!(leases["released"], 1);
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_release_on_one_instance_wakes_a_waiter_on_another() {
    let app = TestApp::spawn().await;
    let second = app.second_instance();
    let (id, secret) = app
        .create_key(json!({"name": "x", "concurrencyLimit": 1}))
        .await;
    let (_, held) = app.admit(&secret).await;
    let waiter = tokio::spawn({
        let http = app.http.clone();
        let url = second.url("/api/v1/keys/verify");
        let body = json!({"key": secret, "acquire": true, "waitMs": 20000});
        async move { (verify_at(&http, url, body).await, Instant::now()) }
    });
    until_queued(&app, &id, 1).await;
    let released = Instant::now();
    // Freed by a usage record that carries the lease, on the first instance.
    let (status, _) = app
        .record_usage(
            json!({"keyId": id, "model": "claude-sonnet-4-5", "lease": lease_of(&held),
                             "usage": {"input_tokens": 1, "output_tokens": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ((status, body), answered) = waiter.await.expect("joined");
    assert_eq!(status, StatusCode::OK, "{body}");
    let after_release = answered.duration_since(released);
    println!("waiter on the other instance admitted {after_release:?} after the release");
    assert!(after_release < Duration::from_secs(2), "{after_release:?}");
}
