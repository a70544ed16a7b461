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
pub fn assert_no_secret_stored(app: &TestApp, secrets: &[&str]) {
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
    // The audit log keeps the key's history (who made and erased it) on purpose.
    for name in app
        .redis
        .all_keys()
        .into_iter()
        .filter(|k| !k.starts_with("kw:{audit}"))
    {
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
    assert!(app
        .redis
        .all_keys()
        .iter()
        .all(|k| !k.contains(&id) || k.starts_with("kw:{audit}")));
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

#[tokio::test]
async fn a_batch_of_500_keys_is_created_in_one_call_and_every_secret_verifies() {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/admin/keys/batch",
            Some(json!({"count": 500, "namePrefix": "resell", "concurrencyLimit": 2, "tags": ["batch"]})),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    println!("batch of 500 keys created in {} ms", took.as_millis());
    let keys = body["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 500);
    for (n, entry) in keys.iter().enumerate() {
        assert_eq!(entry["key"]["name"], format!("resell-{:03}", n + 1));
        assert_eq!(entry["key"]["concurrencyLimit"], 2);
        assert_eq!(entry["key"]["tags"], json!(["batch"]));
    }
    let secrets: Vec<String> = keys
        .iter()
        .map(|k| k["apiKey"].as_str().expect("secret").to_string())
        .collect();
    let verdicts = futures::future::join_all(secrets.iter().map(|s| code_on_first(&app, s))).await;
    assert!(verdicts.iter().all(|v| v == "ok"), "every secret verifies");
    assert_eq!(list(&app, "?tag=batch").await["total"], 500);
    let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secret_stored(&app, &secret_refs);
}

#[tokio::test]
async fn batch_input_is_checked_before_anything_is_written() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"count": 0, "namePrefix": "p"}), "count"),
        (json!({"count": 501, "namePrefix": "p"}), "count"),
        (json!({"count": "3", "namePrefix": "p"}), "count"),
        (json!({"count": 3}), "namePrefix"),
        (
            json!({"count": 3, "namePrefix": "x".repeat(100)}),
            "namePrefix",
        ),
        (json!({"count": 3, "namePrefix": "p", "name": "n"}), "name"),
        (
            json!({"count": 3, "namePrefix": "p", "tokenLimit": -1}),
            "tokenLimit",
        ),
        (
            json!({"count": 3, "namePrefix": "p", "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = app
            .admin(Method::POST, "/api/v1/admin/keys/batch", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        assert_eq!(answer["error"]["field"], field, "{body} → {answer}");
    }
    assert_eq!(app.key_total().await, 0);
}

#[tokio::test]
async fn batch_edit_and_batch_delete_by_ids() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/admin/keys/batch",
            Some(json!({"count": 3, "namePrefix": "team"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let ids: Vec<String> = body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["key"]["id"].as_str().expect("id").to_string())
        .collect();
    let missing = "00000000-0000-4000-8000-000000000000";
    let (status, answer) = app
        .admin(
            Method::PATCH,
            "/api/v1/admin/keys/batch",
            Some(json!({"ids": [ids[0], ids[1], missing, "not-an-id"],
                        "changes": {"isActive": false, "tags": ["bulk"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["updated"], 2);
    let mut errors: Vec<(String, String)> = answer["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap_or("").to_string(),
                e["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            (missing.to_string(), "not_found".to_string()),
            ("not-an-id".to_string(), "not_found".to_string())
        ]
    );
    for id in &ids[..2] {
        let key = app.get_key(id).await;
        assert_eq!(
            (key["isActive"].clone(), key["tags"].clone()),
            (json!(false), json!(["bulk"]))
        );
    }
    assert_eq!(app.get_key(&ids[2]).await["isActive"], true);
    let (status, answer) = app
        .admin(
            Method::PATCH,
            "/api/v1/admin/keys/batch",
            Some(json!({"ids": [ids[0]], "changes": {"tokenLimit": -5}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["field"], "changes.tokenLimit");

    let (status, answer) = app
        .admin(
            Method::POST,
            "/api/v1/admin/keys/batch-delete",
            Some(json!({"ids": [ids[0], ids[1], ids[1], missing]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["deleted"], 2);
    assert_eq!(listed_ids(&list(&app, "").await), vec![ids[2].clone()]);
    assert_eq!(list(&app, "?status=deleted").await["total"], 2);
    let (status, _) = app
        .admin(
            Method::POST,
            "/api/v1/admin/keys/batch-delete",
            Some(json!({"ids": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
