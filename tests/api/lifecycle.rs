//! A key's life after creation: soft delete and restore, erase after retention, key hints and
//! finding a key by its secret, regenerate with a grace period (one and two instances).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::app::Process;
use crate::support::TestApp;

/// One usage record for `id` (one request).
fn usage(id: &str) -> Value {
    json!({"keyId": id, "accountId": "acct-life", "model": "claude-sonnet-4-5",
           "usage": {"input_tokens": 7, "output_tokens": 3}})
}

async fn verify_code(app: &TestApp, base: &str, secret: &str) -> String {
    let response = app
        .http
        .post(format!("{base}/api/v1/keys/verify"))
        .bearer_auth(crate::support::app::SERVICE_TOKEN)
        .json(&json!({"key": secret}))
        .send()
        .await
        .expect("verify sent");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status == StatusCode::OK {
        "ok".to_string()
    } else {
        body["error"]["code"].as_str().unwrap_or("?").to_string()
    }
}

async fn code_on_first(app: &TestApp, secret: &str) -> String {
    verify_code(app, app.url("").trim_end_matches('/'), secret).await
}

async fn code_on(app: &TestApp, instance: &Process, secret: &str) -> String {
    verify_code(app, instance.url("").trim_end_matches('/'), secret).await
}

async fn list(app: &TestApp, query: &str) -> Value {
    let (status, body) = app
        .admin(Method::GET, &format!("/api/v1/admin/keys{query}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

fn listed_ids(body: &Value) -> Vec<String> {
    body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["id"].as_str().expect("id").to_string())
        .collect()
}

/// No Redis value anywhere holds any of the secrets (their random part, in any encoding DUMP
/// shows).
fn assert_no_secret_stored(app: &TestApp, secrets: &[&str]) {
    let dump: String = app
        .redis
        .all_keys()
        .iter()
        .map(|k| format!("{k}\n{}\n", app.redis.cli(&["DUMP", k])))
        .collect();
    for secret in secrets {
        let random = &secret[3..];
        assert!(!dump.contains(random), "a secret is stored in Redis");
        assert!(
            !dump.contains(&random[..16]),
            "part of a secret is stored in Redis"
        );
    }
}

/// Polls until `check` holds, for at most `limit`.
async fn wait_until<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn soft_delete_stops_the_key_keeps_its_usage_and_restore_brings_it_back() {
    let app = TestApp::spawn().await;
    let (other_id, _) = app.create_key(json!({"name": "other"})).await;
    let (id, secret) = app
        .create_key(json!({"name": "life", "tags": ["t1"], "concurrencyLimit": 3, "claudeAccountId": "acct-life"}))
        .await;
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    assert_eq!(app.record_usage(usage(&id)).await.0, StatusCode::OK);
    // The secret is now in this instance's secret cache: the delete must beat it.
    assert_eq!(code_on_first(&app, &secret).await, "ok");
    let path = format!("/api/v1/admin/keys/{id}");

    let (status, _) = app.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(code_on_first(&app, &secret).await, "not_found");
    let deleted = app.get_key(&id).await;
    assert_eq!(deleted["status"], "deleted");
    assert_eq!(deleted["deletedBy"], "admin-api");
    assert!(deleted["deletedAt"].is_string());
    assert_eq!(deleted["usage"]["total"]["requests"], 1);
    assert_eq!(listed_ids(&list(&app, "").await), vec![other_id.clone()]);
    assert_eq!(list(&app, "").await["total"], 1);
    assert!(listed_ids(&list(&app, "?tag=t1").await).is_empty());
    let deleted_list = list(&app, "?status=deleted").await;
    assert_eq!(listed_ids(&deleted_list), vec![id.clone()]);
    assert_eq!(deleted_list["keys"][0]["deletedBy"], "admin-api");
    // A deleted key changes only by restoring it.
    let (status, _) = app
        .admin(Method::PATCH, &path, Some(json!({"name": "renamed"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.admin(Method::DELETE, &path, None).await.0,
        StatusCode::NOT_FOUND
    );

    let (status, restored) = app
        .admin(Method::POST, &format!("{path}/restore"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["key"]["status"], "active");
    assert_eq!(restored["key"]["deletedAt"], Value::Null);
    assert_eq!(restored["key"]["concurrencyLimit"], 3);
    assert_eq!(restored["key"]["tags"], json!(["t1"]));
    assert_eq!(restored["key"]["usage"]["total"]["requests"], 1);
    assert_eq!(code_on_first(&app, &secret).await, "ok");
    assert_eq!(app.record_usage(usage(&id)).await.0, StatusCode::OK);
    assert_eq!(app.get_key(&id).await["usage"]["total"]["requests"], 2);
    assert_eq!(list(&app, "").await["total"], 2);
    assert_eq!(listed_ids(&list(&app, "?tag=t1").await), vec![id.clone()]);
    assert!(listed_ids(&list(&app, "?status=deleted").await).is_empty());
    assert_eq!(
        app.admin(Method::POST, &format!("{path}/restore"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_no_secret_stored(&app, &[&secret]);
}

#[tokio::test]
async fn a_deleted_key_is_refused_by_a_second_instance_that_cached_its_secret() {
    let app = TestApp::spawn().await;
    let second = app.second_instance();
    let (id, secret) = app.create_key(json!({"name": "cached"})).await;
    assert_eq!(code_on(&app, &second, &secret).await, "ok");
    let (status, _) = app
        .admin(Method::DELETE, &format!("/api/v1/admin/keys/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(code_on(&app, &second, &secret).await, "not_found");
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/keys/{id}/restore"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(code_on(&app, &second, &secret).await, "ok");
}

#[tokio::test]
async fn permanent_delete_of_a_deleted_key_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "gone", "tags": ["t"], "claudeAccountId": "acc"}))
        .await;
    assert_eq!(app.record_usage(usage(&id)).await.0, StatusCode::OK);
    let path = format!("/api/v1/admin/keys/{id}");
    assert_eq!(
        app.admin(Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.admin(Method::DELETE, &format!("{path}?permanent=yes"), None)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.admin(Method::DELETE, &format!("{path}?permanent=true"), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    for name in app.redis.all_keys() {
        assert!(!name.contains(&id), "{name} left behind");
        let dump = app.redis.cli(&["DUMP", &name]);
        assert!(!dump.contains(&id), "{name} still mentions the key");
    }
    assert_eq!(code_on_first(&app, &secret).await, "not_found");
    assert_eq!(
        app.admin(Method::GET, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_background_job_erases_deleted_keys_after_the_retention() {
    let app = TestApp::spawn_with(&[
        ("KEYWARD_DELETED_RETENTION_DAYS", "0"),
        ("KEYWARD_EXPIRY_SWEEP_SECS", "1"),
    ])
    .await;
    let (kept, _) = app.create_key(json!({"name": "kept"})).await;
    let (id, _) = app.create_key(json!({"name": "erased"})).await;
    let path = format!("/api/v1/admin/keys/{id}");
    assert_eq!(
        app.admin(Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    wait_until(
        Duration::from_secs(15),
        "the deleted key is erased",
        || async { app.admin(Method::GET, &path, None).await.0 == StatusCode::NOT_FOUND },
    )
    .await;
    assert!(app.redis.all_keys().iter().all(|k| !k.contains(&id)));
    assert_eq!(app.get_key(&kept).await["status"], "active");
}

#[tokio::test]
async fn retention_days_are_validated_at_start() {
    let mut command = crate::support::app::keyward_command(
        "redis://127.0.0.1:1",
        std::path::Path::new("/tmp"),
        &[("KEYWARD_DELETED_RETENTION_DAYS", "3651")],
    );
    let output = command.output().expect("keyward ran");
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("deleted_retention_days"), "{text}");
}

#[tokio::test]
async fn keys_carry_a_hint_and_a_whole_secret_finds_its_key() {
    let app = TestApp::spawn().await;
    let (_, _) = app.create_key(json!({"name": "decoy"})).await;
    let (id, secret) = app.create_key(json!({"name": "hinted"})).await;
    let hint = format!("cr_{}…{}", &secret[3..7], &secret[secret.len() - 4..]);
    assert_eq!(app.get_key(&id).await["keyHint"], hint);
    let listed = list(&app, "").await;
    assert!(listed["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .all(|k| k["keyHint"].as_str().is_some_and(|h| h.starts_with("cr_"))));
    for query in [format!("?secret={secret}"), format!("?q={secret}")] {
        let found = list(&app, &query).await;
        assert_eq!(listed_ids(&found), vec![id.clone()], "{query}");
        assert_eq!(found["total"], 1);
    }
    let unknown = format!("cr_{}", "0".repeat(64));
    assert!(listed_ids(&list(&app, &format!("?secret={unknown}")).await).is_empty());
    assert!(listed_ids(&list(&app, &format!("?q={unknown}")).await).is_empty());
    assert_no_secret_stored(&app, &[&secret]);
}

#[tokio::test]
async fn regenerate_keeps_the_key_and_the_old_secret_works_until_the_grace_ends() {
    let app = TestApp::spawn().await;
    let (id, old) = app
        .create_key(json!({"name": "rolled", "concurrencyLimit": 4, "tags": ["r"]}))
        .await;
    assert_eq!(app.record_usage(usage(&id)).await.0, StatusCode::OK);
    assert_eq!(code_on_first(&app, &old).await, "ok");
    let path = format!("/api/v1/admin/keys/{id}/regenerate");
    let (status, body) = app
        .admin(Method::POST, &path, Some(json!({"graceSeconds": 3})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = body["apiKey"].as_str().expect("new secret").to_string();
    assert_ne!(new, old);
    assert_eq!(body["key"]["id"], id.as_str());
    assert_eq!(body["key"]["concurrencyLimit"], 4);
    assert_eq!(body["key"]["usage"]["total"]["requests"], 1);
    assert_eq!(
        body["key"]["keyHint"],
        format!("cr_{}…{}", &new[3..7], &new[new.len() - 4..])
    );
    assert!(body["key"]["oldSecretValidUntil"].is_string());
    assert_eq!(code_on_first(&app, &new).await, "ok");
    assert_eq!(code_on_first(&app, &old).await, "ok");
    wait_until(
        Duration::from_secs(15),
        "the old secret expires",
        || async { code_on_first(&app, &old).await == "not_found" },
    )
    .await;
    assert_eq!(code_on_first(&app, &new).await, "ok");
    let key = app.get_key(&id).await;
    assert_eq!(key["oldSecretValidUntil"], Value::Null);
    assert_eq!(key["usage"]["total"]["requests"], 1);
    assert_no_secret_stored(&app, &[&old, &new]);
}

#[tokio::test]
async fn an_old_secret_cached_by_a_second_instance_stops_when_its_grace_ends() {
    let app = TestApp::spawn().await;
    let second = app.second_instance();
    let (id, old) = app.create_key(json!({"name": "two"})).await;
    assert_eq!(code_on(&app, &second, &old).await, "ok");
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/keys/{id}/regenerate"),
            Some(json!({"graceSeconds": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = body["apiKey"].as_str().expect("new secret").to_string();
    assert_eq!(code_on(&app, &second, &old).await, "ok");
    assert_eq!(code_on(&app, &second, &new).await, "ok");
    wait_until(
        Duration::from_secs(15),
        "the old secret expires",
        || async { code_on(&app, &second, &old).await == "not_found" },
    )
    .await;
    assert_eq!(code_on(&app, &second, &new).await, "ok");
    assert_eq!(code_on_first(&app, &old).await, "not_found");
}

#[tokio::test]
async fn regenerate_without_grace_stops_the_old_secret_everywhere_at_once() {
    let app = TestApp::spawn().await;
    let second = app.second_instance();
    let (id, old) = app.create_key(json!({"name": "now"})).await;
    assert_eq!(code_on(&app, &second, &old).await, "ok");
    assert_eq!(code_on_first(&app, &old).await, "ok");
    let path = format!("/api/v1/admin/keys/{id}/regenerate");
    let (status, body) = app.admin(Method::POST, &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = body["apiKey"].as_str().expect("new secret").to_string();
    assert_eq!(body["key"]["oldSecretValidUntil"], Value::Null);
    assert_eq!(code_on(&app, &second, &old).await, "not_found");
    assert_eq!(code_on_first(&app, &old).await, "not_found");
    assert_eq!(code_on(&app, &second, &new).await, "ok");

    let (status, body) = app
        .admin(Method::POST, &path, Some(json!({"graceSeconds": 604_801})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "graceSeconds");
    assert_eq!(code_on_first(&app, &new).await, "ok");
    let (status, _) = app
        .admin(
            Method::POST,
            "/api/v1/admin/keys/00000000-0000-0000-0000-000000000000/regenerate",
            Some(json!({"graceSeconds": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.admin(Method::DELETE, &format!("/api/v1/admin/keys/{id}"), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, _) = app
        .admin(Method::POST, &path, Some(json!({"graceSeconds": 1})))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a deleted key keeps its secret"
    );
}
