//! Expiry that starts on first use, and model allow/deny lists with prefix patterns.

use chrono::{DateTime, Utc};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::TestApp;

fn instant(value: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("rfc3339")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn parallel_first_admissions_activate_a_key_once() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "a", "expirationMode": "activation", "activationDays": 3, "activationUnit": "hours"}))
        .await;
    let key = app.get_key(&id).await;
    assert_eq!(key["expirationMode"], "activation");
    assert_eq!(key["isActivated"], false);
    assert_eq!(key["expiresAt"], serde_json::Value::Null);
    // A check-only verify does not start the clock.
    assert_eq!(app.verify(json!({"key": secret})).await.0, StatusCode::OK);
    assert_eq!(app.get_key(&id).await["isActivated"], false);

    let replies = join_all((0..100).map(|_| app.admit(&secret))).await;
    assert!(replies.iter().all(|(status, _)| *status == StatusCode::OK));
    let key = app.get_key(&id).await;
    assert_eq!(key["isActivated"], true, "{key}");
    let activated_at = instant(&key["activatedAt"]);
    let expires_at = instant(&key["expiresAt"]);
    assert_eq!(expires_at - activated_at, chrono::Duration::hours(3));
    // Every admission answered with the same expiry: one of them set it, the rest saw it.
    for (_, body) in &replies {
        assert_eq!(instant(&body["keyData"]["expiresAt"]), expires_at, "{body}");
    }
    let stored = app
        .redis
        .cli(&["HGET", &format!("kw:{{k:{id}}}:key"), "activatedAt"]);
    assert_eq!(stored.trim(), activated_at.timestamp_millis().to_string());
    // The expiry index (status filter, expiry sweep) followed the activation.
    let indexed = app.redis.cli(&["ZSCORE", "kw:{idx}:expires", &id]);
    assert_eq!(indexed.trim(), expires_at.timestamp_millis().to_string());
}

#[tokio::test]
async fn activation_fields_follow_their_rules() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"name": "a", "expirationMode": "activation"}),
            "activationDays",
        ),
        (
            json!({"name": "a", "expirationMode": "someday"}),
            "expirationMode",
        ),
        (json!({"name": "a", "activationDays": 5}), "activationDays"),
        (
            json!({"name": "a", "activationUnit": "hours"}),
            "activationUnit",
        ),
        (
            json!({"name": "a", "expirationMode": "activation", "activationDays": 0}),
            "activationDays",
        ),
        (
            json!({"name": "a", "expirationMode": "activation", "activationDays": 5,
                   "expiresAt": "2999-01-01T00:00:00Z"}),
            "expiresAt",
        ),
    ];
    for (body, field) in cases {
        let (status, reply) = app
            .admin(Method::POST, "/api/v1/admin/keys", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert_eq!(reply["error"]["field"], field, "{body}: {reply}");
    }
    // A fixed key with an expiry cannot turn to activation mode and keep it.
    let (id, _) = app
        .create_key(json!({"name": "f", "expiresAt": "2999-01-01T00:00:00Z"}))
        .await;
    let (status, reply) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{id}"),
            Some(json!({"expirationMode": "activation", "activationDays": 30})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["error"]["field"], "expiresAt");
    let (status, reply) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{id}"),
            Some(json!({"expirationMode": "activation", "activationDays": 30, "expiresAt": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}

#[tokio::test]
async fn deny_and_allow_lists_match_prefix_patterns_on_every_spelling() {
    let app = TestApp::spawn().await;
    let (_, deny) = app
        .create_key(json!({"name": "d", "enableModelRestriction": true,
                           "restrictedModels": ["claude-opus-4-1*", "gpt-5"]}))
        .await;
    let code = |secret: &str, model: Option<&str>| {
        let mut body = json!({"key": secret});
        if let Some(model) = model {
            body["model"] = json!(model);
        }
        let app = &app;
        async move {
            let (status, body) = app.verify(body).await;
            (
                status,
                body["error"]["code"].as_str().unwrap_or("").to_string(),
            )
        }
    };
    let refused = (StatusCode::FORBIDDEN, "model_not_allowed".to_string());
    let ok = (StatusCode::OK, String::new());
    for model in [
        "claude-opus-4-1",
        "Claude-Opus-4-1-20250805",
        "us.anthropic.claude-opus-4-1-20250805-v1:0",
        "claude-opus-4-1@20250805",
        "gpt-5",
    ] {
        assert_eq!(code(&deny, Some(model)).await, refused, "{model}");
    }
    for model in ["claude-opus-4-5", "claude-sonnet-4-5", "gpt-5-mini"] {
        assert_eq!(code(&deny, Some(model)).await, ok, "{model}");
    }
    assert_eq!(
        code(&deny, None).await,
        ok,
        "deny mode lets a verify without a model pass"
    );

    let (_, allow) = app
        .create_key(
            json!({"name": "a", "enableModelRestriction": true, "modelRestrictionMode": "allow",
                           "restrictedModels": ["claude-sonnet-4*"]}),
        )
        .await;
    for model in [
        "claude-sonnet-4-5",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ] {
        assert_eq!(code(&allow, Some(model)).await, ok, "{model}");
    }
    for model in ["claude-opus-4-1", "gpt-5"] {
        assert_eq!(code(&allow, Some(model)).await, refused, "{model}");
    }
    assert_eq!(
        code(&allow, None).await,
        refused,
        "allow mode needs the model"
    );

    for (patterns, mode) in [(json!(["clau*de"]), "deny"), (json!(["x"]), "sometimes")] {
        let (status, reply) = app
            .admin(
                Method::POST,
                "/api/v1/admin/keys",
                Some(json!({"name": "bad", "enableModelRestriction": true,
                            "restrictedModels": patterns, "modelRestrictionMode": mode})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    }
}

#[tokio::test]
async fn permissions_take_a_list_of_services_and_keys_bind_azure_and_droid_accounts() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "p", "permissions": ["claude", "droid"],
                           "azureOpenaiAccountId": "az-1", "droidAccountId": "droid-1"}))
        .await;
    let key = app.get_key(&id).await;
    assert_eq!(key["permissions"], json!(["claude", "droid"]));
    assert_eq!(key["azureOpenaiAccountId"], "az-1");
    assert_eq!(key["droidAccountId"], "droid-1");
    let service = |service: &'static str| {
        let app = &app;
        let secret = secret.clone();
        async move {
            app.verify(json!({"key": secret, "service": service}))
                .await
                .0
        }
    };
    assert_eq!(service("claude").await, StatusCode::OK);
    assert_eq!(service("droid").await, StatusCode::OK);
    assert_eq!(service("openai").await, StatusCode::FORBIDDEN);
    assert_eq!(service("gemini").await, StatusCode::FORBIDDEN);

    // The single-string form and "all"/[] still work, and read back as before.
    for (sent, shown) in [
        (json!("gemini"), json!("gemini")),
        (json!("all"), json!("all")),
        (json!([]), json!("all")),
        (json!(["openai"]), json!("openai")),
    ] {
        let (status, body) = app
            .admin(
                Method::PATCH,
                &format!("/api/v1/admin/keys/{id}"),
                Some(json!({"permissions": sent})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["key"]["permissions"], shown, "{sent}");
    }
    for bad in [
        json!("root"),
        json!(["claude", "root"]),
        json!("claude,openai"),
        json!(5),
    ] {
        let (status, _) = app
            .admin(
                Method::POST,
                "/api/v1/admin/keys",
                Some(json!({"name": "bad", "permissions": bad})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // Unbinding works like the other bindings.
    let (_, body) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{id}"),
            Some(json!({"droidAccountId": null})),
        )
        .await;
    assert_eq!(body["key"]["droidAccountId"], serde_json::Value::Null);
    assert_eq!(body["key"]["azureOpenaiAccountId"], "az-1");
}

/// A verify holds back the model's names and the matched clients while its cached copy of the
/// key has no restriction on them; a restriction added afterwards must still apply to the very
/// next verify (the script asks for the held-back inputs).
#[tokio::test]
async fn a_restriction_added_after_verifies_applies_to_the_next_one() {
    let app = TestApp::spawn().await;
    let (id, secret) = app.create_key(json!({"name": "late-rules"})).await;
    let verify = |model: &str, client: &str| {
        let body = json!({"key": secret, "model": model, "client": client});
        let app = &app;
        async move {
            let (status, body) = app.verify(body).await;
            (
                status,
                body["error"]["code"].as_str().unwrap_or("").to_string(),
            )
        }
    };
    let ok = (StatusCode::OK, String::new());
    // Twice, so the second runs with the record cached (no restriction in it).
    for _ in 0..2 {
        assert_eq!(verify("claude-opus-4-1", "curl/8.0").await, ok);
    }

    let (status, reply) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{id}"),
            Some(json!({"enableModelRestriction": true, "restrictedModels": ["claude-opus-4-1*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        verify("us.anthropic.claude-opus-4-1-20250805-v1:0", "curl/8.0").await,
        (StatusCode::FORBIDDEN, "model_not_allowed".to_string())
    );
    assert_eq!(verify("claude-sonnet-4-5", "curl/8.0").await, ok);

    let (status, reply) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{id}"),
            Some(json!({"enableClientRestriction": true, "allowedClients": ["claude_code"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        verify("claude-sonnet-4-5", "curl/8.0").await,
        (StatusCode::FORBIDDEN, "client_not_allowed".to_string())
    );
    assert_eq!(
        verify("claude-sonnet-4-5", "claude-cli/1.0.83 (external, cli)").await,
        ok
    );
    assert_eq!(
        verify("claude-opus-4-1", "claude-cli/1.0.83 (external, cli)").await,
        (StatusCode::FORBIDDEN, "model_not_allowed".to_string())
    );
}
