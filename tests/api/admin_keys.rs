//! The admin API's key lifecycle: create, read, update, delete, validation, expiry sweep.

use futures::future::{join_all, FutureExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{expires_soon, TestApp};

#[tokio::test]
async fn create_returns_the_secret_once_and_reads_never_show_it() {
    let app = TestApp::spawn().await;
    let (status, created) = app
        .admin(
            Method::POST,
            "/api/v1/admin/keys",
            Some(json!({"name": "team", "tags": ["prod"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = created["apiKey"].as_str().expect("secret");
    assert!(secret.starts_with("cr_") && secret.len() == 67);
    let id = created["key"]["id"].as_str().expect("id");
    let key = app.get_key(id).await;
    for field in [
        "name",
        "description",
        "tokenLimit",
        "expiresAt",
        "claudeAccountId",
        "claudeConsoleAccountId",
        "geminiAccountId",
        "openaiAccountId",
        "bedrockAccountId",
        "permissions",
        "isActive",
        "concurrencyLimit",
        "rateLimitWindow",
        "rateLimitRequests",
        "enableModelRestriction",
        "restrictedModels",
        "enableClientRestriction",
        "allowedClients",
        "dailyCostLimit",
        "tags",
        "id",
        "createdAt",
        "updatedAt",
        "lastUsedAt",
        "createdBy",
        "currentConcurrency",
        "currentWindowRequests",
        "currentWindowTokens",
        "windowStartTime",
        "windowEndTime",
        "windowRemainingSeconds",
        "dailyCost",
        "usage",
    ] {
        assert!(key.get(field).is_some(), "missing {field}");
    }
    for bucket in ["total", "daily", "monthly"] {
        for counter in [
            "requests",
            "inputTokens",
            "outputTokens",
            "cacheCreateTokens",
            "cacheReadTokens",
            "allTokens",
            "cost",
        ] {
            assert!(
                key["usage"][bucket].get(counter).is_some(),
                "missing usage.{bucket}.{counter}"
            );
        }
    }
    let (_, list) = app.admin(Method::GET, "/api/v1/admin/keys", None).await;
    for text in [key.to_string(), list.to_string()] {
        assert!(!text.contains(secret), "the secret is never shown again");
        assert!(!text.contains("\"hash\""));
    }
    // Only sha256(key + secret) is stored.
    let dump: String = app
        .redis
        .all_keys()
        .iter()
        .map(|k| app.redis.cli(&["DUMP", k]))
        .collect();
    assert!(!dump.contains(&secret[3..]));
}

async fn assert_invalid(app: &TestApp, method: Method, path: &str, body: Value, field: &str) {
    let (status, response) = app.admin(method, path, Some(body.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {response}");
    assert_eq!(response["error"]["code"], "invalid_input");
    assert_eq!(response["error"]["field"], field, "{body} → {response}");
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": 7}), "name"),
        (
            json!({"name": "a", "description": "d".repeat(1001)}),
            "description",
        ),
        (json!({"name": "a", "tokenLimit": -1}), "tokenLimit"),
        (json!({"name": "a", "tokenLimit": "10"}), "tokenLimit"),
        (json!({"name": "a", "expiresAt": "next week"}), "expiresAt"),
        (
            json!({"name": "a", "claudeAccountId": "has space"}),
            "claudeAccountId",
        ),
        (
            json!({"name": "a", "claudeConsoleAccountId": 1}),
            "claudeConsoleAccountId",
        ),
        (
            json!({"name": "a", "geminiAccountId": "x".repeat(129)}),
            "geminiAccountId",
        ),
        (
            json!({"name": "a", "openaiAccountId": ["x"]}),
            "openaiAccountId",
        ),
        (
            json!({"name": "a", "bedrockAccountId": true}),
            "bedrockAccountId",
        ),
        (
            json!({"name": "a", "permissions": "everything"}),
            "permissions",
        ),
        (json!({"name": "a", "isActive": "yes"}), "isActive"),
        (
            json!({"name": "a", "concurrencyLimit": 1.5}),
            "concurrencyLimit",
        ),
        (
            json!({"name": "a", "rateLimitWindow": -5}),
            "rateLimitWindow",
        ),
        (
            json!({"name": "a", "rateLimitRequests": 1e12}),
            "rateLimitRequests",
        ),
        (
            json!({"name": "a", "enableModelRestriction": 1}),
            "enableModelRestriction",
        ),
        (
            json!({"name": "a", "restrictedModels": "claude"}),
            "restrictedModels",
        ),
        (
            json!({"name": "a", "enableClientRestriction": null}),
            "enableClientRestriction",
        ),
        (
            json!({"name": "a", "allowedClients": ["netscape"]}),
            "allowedClients",
        ),
        (
            json!({"name": "a", "dailyCostLimit": -0.5}),
            "dailyCostLimit",
        ),
        (
            json!({"name": "a", "dailyCostLimit": "5"}),
            "dailyCostLimit",
        ),
        (json!({"name": "a", "tags": [1]}), "tags[0]"),
        (json!({"name": "a", "tags": ["a,b"]}), "tags"),
        (json!({"name": "a", "colour": "red"}), "colour"),
    ];
    for (body, field) in cases {
        assert_invalid(&app, Method::POST, "/api/v1/admin/keys", body, field).await;
    }
    assert_eq!(app.key_total().await, 0);
    assert!(
        app.redis.all_keys().iter().all(|k| !k.contains("{k:")),
        "no key record was written"
    );

    let (id, _) = app.create_key(json!({"name": "kept"})).await;
    let before = app.get_key(&id).await;
    let path = format!("/api/v1/admin/keys/{id}");
    assert_invalid(
        &app,
        Method::PATCH,
        &path,
        json!({"name": "new", "concurrencyLimit": -1}),
        "concurrencyLimit",
    )
    .await;
    assert_invalid(&app, Method::PATCH, &path, json!({"name": null}), "name").await;
    assert_eq!(
        app.get_key(&id).await["name"],
        before["name"],
        "a refused update changes nothing"
    );
}

#[tokio::test]
async fn wrong_content_type_and_broken_json_are_refused() {
    let app = TestApp::spawn().await;
    let send = |content_type: &'static str, body: &'static str| {
        app.http
            .post(app.url("/api/v1/admin/keys"))
            .bearer_auth(crate::support::app::ADMIN_TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let response = send("text/plain", r#"{"name": "a"}"#).await.expect("sent");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = send("application/json", r#"{"name": "a""#)
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_input");
    let huge = Box::leak(format!(r#"{{"name": "{}"}}"#, "x".repeat(100_000)).into_boxed_str());
    let response = send("application/json", huge).await.expect("sent");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.key_total().await, 0);
}

#[tokio::test]
async fn update_changes_only_the_sent_fields() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "a", "description": "keep me", "tags": ["x"], "concurrencyLimit": 3, "expiresAt": "2099-01-01T00:00:00Z"}))
        .await;
    assert_eq!(
        app.verify(json!({"key": secret})).await.1["keyData"]["name"],
        "a"
    );
    let path = format!("/api/v1/admin/keys/{id}");
    let (status, body) = app
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"name": "b", "expiresAt": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key = &body["key"];
    assert_eq!(key["name"], "b");
    assert_eq!(key["expiresAt"], Value::Null);
    assert_eq!(key["description"], "keep me");
    assert_eq!(key["tags"], json!(["x"]));
    assert_eq!(key["concurrencyLimit"], 3);
    let (status, verified) = app.verify(json!({"key": secret})).await;
    assert_eq!(status, StatusCode::OK, "the secret still works");
    assert_eq!(
        verified["keyData"]["name"], "b",
        "verify sees the update at once"
    );
    assert_eq!(verified["keyData"]["expiresAt"], Value::Null);
}

#[tokio::test]
async fn concurrent_updates_of_different_fields_all_apply() {
    let app = TestApp::spawn().await;
    let (id, secret) = app.create_key(json!({"name": "a"})).await;
    let path = format!("/api/v1/admin/keys/{id}");
    // Usage records, a rename and a disable racing: none reverts another.
    let usage = json!({"keyId": id, "model": "claude-haiku-4-5", "usage": {"input_tokens": 1, "output_tokens": 1}});
    let mut calls = Vec::new();
    for i in 0..20 {
        calls.push(app.record_usage(usage.clone()).boxed_local());
        if i == 10 {
            calls.push(
                app.admin(Method::PATCH, &path, Some(json!({"isActive": false})))
                    .boxed_local(),
            );
            calls.push(
                app.admin(
                    Method::PATCH,
                    &path,
                    Some(json!({"description": "renamed"})),
                )
                .boxed_local(),
            );
        }
    }
    assert!(join_all(calls)
        .await
        .iter()
        .all(|(s, _)| *s == StatusCode::OK));
    let key = app.get_key(&id).await;
    assert_eq!(key["isActive"], false);
    assert_eq!(key["description"], "renamed");
    assert_eq!(key["usage"]["total"]["requests"], 20);
    assert_eq!(
        app.verify(json!({"key": secret})).await.1["error"]["code"],
        "disabled"
    );
}

#[tokio::test]
async fn permanent_delete_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let (keep_id, _) = app.create_key(json!({"name": "keep"})).await;
    let (id, secret) = app
        .create_key(json!({"name": "gone", "tags": ["t"], "claudeAccountId": "acc", "concurrencyLimit": 2, "rateLimitWindow": 5, "expiresAt": "2099-01-01T00:00:00Z"}))
        .await;
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    let usage = json!({"keyId": id, "accountId": "acc", "model": "claude-sonnet-4-5", "usage": {"input_tokens": 5, "output_tokens": 5}});
    assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);
    assert!(app.redis.all_keys().iter().any(|k| k.contains(&id)));

    let path = format!("/api/v1/admin/keys/{id}");
    let (status, _) = app
        .admin(Method::DELETE, &format!("{path}?permanent=true"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let leftovers: Vec<String> = app
        .redis
        .all_keys()
        .into_iter()
        // The audit log keeps the key's history (who made and erased it) on purpose.
        .filter(|k| k.contains(&id) && !k.starts_with("kw:{audit}"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    for index in app.redis.all_keys().iter().filter(|k| k.contains("{idx}")) {
        let dump = app.redis.cli(&["DUMP", index]);
        assert!(!dump.contains(&id), "{index} still mentions the key");
    }
    assert_eq!(
        app.verify(json!({"key": secret})).await.1["error"]["code"],
        "not_found"
    );
    assert_eq!(
        app.admin(Method::GET, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.admin(Method::DELETE, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.key_total().await, 1);
    app.get_key(&keep_id).await;
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let app = TestApp::spawn().await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    for method in [Method::GET, Method::DELETE] {
        assert_eq!(
            app.admin(method, &format!("/api/v1/admin/keys/{unknown}"), None)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
    }
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{unknown}"),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.admin(Method::GET, "/api/v1/admin/keys/not-an-id", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn disable_expired_disables_each_expired_key_once() {
    let app = TestApp::spawn().await;
    let soon = expires_soon();
    let (expired_id, _) = app
        .create_key(json!({"name": "old", "expiresAt": soon.at}))
        .await;
    app.create_key(json!({"name": "old2", "expiresAt": soon.at}))
        .await;
    app.create_key(json!({"name": "off-and-old", "isActive": false, "expiresAt": soon.at}))
        .await;
    let (fresh_id, _) = app
        .create_key(json!({"name": "new", "expiresAt": "2099-01-01T00:00:00Z"}))
        .await;
    app.create_key(json!({"name": "forever"})).await;
    soon.passed().await;

    let path = "/api/v1/admin/keys/disable-expired";
    let results = join_all((0..3).map(|_| app.admin(Method::POST, path, None))).await;
    let total: u64 = results
        .iter()
        .map(|(_, b)| b["disabled"].as_u64().expect("count"))
        .sum();
    assert_eq!(total, 2, "two sweeps at once still disable each key once");
    assert_eq!(app.admin(Method::POST, path, None).await.1["disabled"], 0);
    assert_eq!(app.get_key(&expired_id).await["isActive"], false);
    assert_eq!(app.get_key(&fresh_id).await["isActive"], true);
}

#[tokio::test]
async fn admin_api_needs_the_admin_token() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/api/v1/admin/keys"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = app.relay(Method::GET, "/api/v1/admin/keys", None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the service token is not an admin token"
    );
}
