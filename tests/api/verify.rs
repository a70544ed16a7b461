//! The relay's verify: every refusal code, and admission under contention.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{expires_soon, TestApp};

async fn code_of(app: &TestApp, body: serde_json::Value) -> (StatusCode, String) {
    let (status, body) = app.verify(body).await;
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn valid_key_returns_its_data_without_secrets() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "a", "claudeAccountId": "acc-1"}))
        .await;
    let (status, body) = app
        .verify(json!({"key": secret, "service": "claude", "model": "claude-sonnet-4-5"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["valid"], true);
    assert_eq!(body["keyId"], id);
    assert_eq!(body["keyData"]["claudeAccountId"], "acc-1");
    assert!(
        body.get("lease").is_none(),
        "no lease without a concurrency limit"
    );
    let text = body.to_string();
    assert!(!text.contains(&secret) && !text.contains("\"hash\""));
}

#[tokio::test]
async fn malformed_and_unknown_keys_are_refused() {
    let app = TestApp::spawn().await;
    let hex = "a".repeat(64);
    for bad in [
        format!("sk_{hex}"),
        format!("cr_{}", &hex[1..]),
        format!("cr_{}", hex.to_uppercase()),
        "".into(),
    ] {
        assert_eq!(
            code_of(&app, json!({"key": bad})).await,
            (StatusCode::UNAUTHORIZED, "invalid_format".into())
        );
    }
    assert_eq!(
        code_of(&app, json!({"key": format!("cr_{hex}")})).await,
        (StatusCode::UNAUTHORIZED, "not_found".into())
    );
}

#[tokio::test]
async fn disabled_and_expired_keys_are_refused() {
    let app = TestApp::spawn().await;
    let (_, disabled) = app
        .create_key(json!({"name": "off", "isActive": false}))
        .await;
    assert_eq!(
        code_of(&app, json!({"key": disabled})).await,
        (StatusCode::UNAUTHORIZED, "disabled".into())
    );
    let soon = expires_soon();
    let (_, expired) = app
        .create_key(json!({"name": "old", "expiresAt": soon.at}))
        .await;
    soon.passed().await;
    assert_eq!(
        code_of(&app, json!({"key": expired})).await,
        (StatusCode::UNAUTHORIZED, "expired".into())
    );
}

#[tokio::test]
async fn permission_model_and_client_restrictions() {
    let app = TestApp::spawn().await;
    let (_, claude_only) = app
        .create_key(json!({"name": "c", "permissions": "claude"}))
        .await;
    assert_eq!(
        code_of(&app, json!({"key": claude_only, "service": "claude"}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        code_of(&app, json!({"key": claude_only, "service": "gemini"})).await,
        (StatusCode::FORBIDDEN, "permission_denied".into())
    );

    let (_, no_opus) = app
        .create_key(json!({"name": "m", "enableModelRestriction": true, "restrictedModels": ["claude-opus-4-1"]}))
        .await;
    assert_eq!(
        code_of(&app, json!({"key": no_opus, "model": "Claude-Opus-4-1"})).await,
        (StatusCode::FORBIDDEN, "model_not_allowed".into())
    );
    assert_eq!(
        code_of(&app, json!({"key": no_opus, "model": "claude-sonnet-4-5"}))
            .await
            .0,
        StatusCode::OK
    );

    let (_, cli_only) = app
        .create_key(json!({"name": "cl", "enableClientRestriction": true, "allowedClients": ["claude_code"]}))
        .await;
    assert_eq!(
        code_of(
            &app,
            json!({"key": cli_only, "client": "claude-cli/1.0.83 (external, cli)"})
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        code_of(&app, json!({"key": cli_only, "client": "curl/8.5"})).await,
        (StatusCode::FORBIDDEN, "client_not_allowed".into())
    );
    assert_eq!(
        code_of(&app, json!({"key": cli_only})).await,
        (StatusCode::FORBIDDEN, "client_not_allowed".into()),
        "a client restriction refuses a verify without a client"
    );
}

#[tokio::test]
async fn rate_window_counts_requests_and_rolls_over() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "w", "rateLimitWindow": 10, "rateLimitRequests": 3}))
        .await;
    // Check-only verifies do not count.
    for _ in 0..5 {
        assert_eq!(
            code_of(&app, json!({"key": secret})).await.0,
            StatusCode::OK
        );
    }
    for _ in 0..3 {
        assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    }
    let response = app
        .http
        .post(app.url("/api/v1/keys/verify"))
        .bearer_auth(crate::support::app::SERVICE_TOKEN)
        .json(&json!({"key": secret, "acquire": true}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(
        (590..=600).contains(&retry_after),
        "Retry-After is the window's rest: {retry_after}"
    );
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limit");

    let key = app.get_key(&id).await;
    assert_eq!(key["currentWindowRequests"], 3);
    assert!(key["windowRemainingSeconds"].as_u64().expect("running") > 590);

    // Let the window end (as ten minutes passing would), then the next request opens a new one.
    app.redis
        .cli(&["PEXPIRE", &format!("kw:{{k:{id}}}:window"), "1"]);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(
        app.get_key(&id).await["windowRemainingSeconds"],
        serde_json::Value::Null
    );
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    assert_eq!(app.get_key(&id).await["currentWindowRequests"], 1);
}

#[tokio::test]
async fn token_limit_and_daily_cost_limit_refuse_once_reached() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(
            json!({"name": "t", "rateLimitWindow": 10, "tokenLimit": 1000, "dailyCostLimit": 0.01}),
        )
        .await;
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    // 999 tokens: under the token limit, and $0.002997 (claude-sonnet-4-5 input) under $0.01.
    let usage = |input: u64| json!({"keyId": id, "model": "claude-sonnet-4-5", "usage": {"input_tokens": input, "output_tokens": 0}});
    assert_eq!(app.record_usage(usage(999)).await.0, StatusCode::OK);
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    assert_eq!(app.record_usage(usage(1)).await.0, StatusCode::OK);
    assert_eq!(
        code_of(&app, json!({"key": secret, "acquire": true})).await,
        (StatusCode::TOO_MANY_REQUESTS, "token_limit".into())
    );

    let (cost_id, cost_secret) = app
        .create_key(json!({"name": "c", "dailyCostLimit": 0.01}))
        .await;
    let (_, body) = app
        .record_usage(json!({"keyId": cost_id, "model": "claude-sonnet-4-5", "usage": {"input_tokens": 3334, "output_tokens": 0}}))
        .await;
    assert_eq!(body["dailyCostNanoUsd"], 10_002_000);
    let response = app
        .http
        .post(app.url("/api/v1/keys/verify"))
        .bearer_auth(crate::support::app::SERVICE_TOKEN)
        .json(&json!({"key": cost_secret}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "daily_cost_limit");
}

#[tokio::test]
async fn parallel_admissions_never_exceed_the_concurrency_limit() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "p", "concurrencyLimit": 5}))
        .await;
    let attempts = (0..100).map(|_| app.admit(&secret));
    let results = join_all(attempts).await;
    let granted = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let refused = results
        .iter()
        .filter(|(s, b)| {
            *s == StatusCode::TOO_MANY_REQUESTS && b["error"]["code"] == "concurrency_limit"
        })
        .count();
    assert_eq!((granted, refused), (5, 95));
    assert!(results
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .all(|(_, b)| b["lease"]["id"].is_string()));
    assert_eq!(app.get_key(&id).await["currentConcurrency"], 5);
}

#[tokio::test]
async fn parallel_admissions_never_exceed_the_window_request_limit() {
    let app = TestApp::spawn().await;
    let (_, secret) = app
        .create_key(json!({"name": "p", "rateLimitWindow": 5, "rateLimitRequests": 7}))
        .await;
    let results = join_all((0..60).map(|_| app.admit(&secret))).await;
    assert_eq!(
        results.iter().filter(|(s, _)| *s == StatusCode::OK).count(),
        7
    );
}

#[tokio::test]
async fn relay_api_needs_the_service_token() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .post(app.url("/api/v1/keys/verify"))
        .bearer_auth("wrong")
        .json(&json!({"key": "x"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .admin(
            Method::POST,
            "/api/v1/keys/verify",
            Some(json!({"key": "x"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the admin token is not a service token"
    );
}

#[tokio::test]
async fn verify_input_errors_name_the_field() {
    let app = TestApp::spawn().await;
    let (status, body) = app.verify(json!({"key": 5})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("key"))
    );
    let (status, body) = app.verify(json!({"key": "x", "service": "bard"})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("service"))
    );
    let (status, body) = app.verify(json!({"key": "x", "acquired": true})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("acquired"))
    );
}

#[tokio::test]
async fn lookalike_keys_are_refused_without_asking_redis() {
    let mut app = TestApp::spawn().await;
    app.redis.kill();
    // With Redis gone, only answers that never needed Redis can be 401s.
    for bad in [
        format!("sk_{}", "a".repeat(64)),
        format!("cr_{}", "a".repeat(63)),
        format!("cr_{}z", "a".repeat(63)),
    ] {
        assert_eq!(
            code_of(&app, json!({"key": bad})).await,
            (StatusCode::UNAUTHORIZED, "invalid_format".into())
        );
    }
    let (status, body) = app
        .verify(json!({"key": format!("cr_{}", "a".repeat(64))}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("storage_unavailable"))
    );
}

#[tokio::test]
async fn deeply_nested_json_is_a_clear_400() {
    let app = TestApp::spawn().await;
    let deep = format!(r#"{{"key": {}1{}}}"#, "[".repeat(5000), "]".repeat(5000));
    let response = app
        .http
        .post(app.url("/api/v1/keys/verify"))
        .bearer_auth(crate::support::app::SERVICE_TOKEN)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_input");
}

#[tokio::test]
async fn every_spelling_of_a_denied_model_is_refused() {
    let app = TestApp::spawn().await;
    let spellings = [
        "claude-opus-4-1-20250805",
        "claude-opus-4-1",
        "us.anthropic.claude-opus-4-1-20250805-v1:0",
        "claude-opus-4-1@20250805",
        "claude-opus-4-1-20250805[1m]",
        " Claude-Opus-4-1-20250805 ",
    ];
    // Denied as the dated id, as the alias, or in a Bedrock spelling: each denies them all.
    for denied in [
        "claude-opus-4-1-20250805",
        "claude-opus-4-1",
        "us.anthropic.claude-opus-4-1-20250805-v1:0",
    ] {
        let (id, secret) = app
            .create_key(json!({"name": "no-opus", "enableModelRestriction": true, "restrictedModels": [denied]}))
            .await;
        for model in spellings {
            assert_eq!(
                code_of(
                    &app,
                    json!({"key": secret, "model": model, "acquire": true})
                )
                .await,
                (StatusCode::FORBIDDEN, "model_not_allowed".into()),
                "{model} with {denied} denied"
            );
        }
        for allowed in ["claude-sonnet-4-5", "claude-opus-4-5", "claude-opus-4"] {
            assert_eq!(
                code_of(&app, json!({"key": secret, "model": allowed}))
                    .await
                    .0,
                StatusCode::OK,
                "{allowed} with {denied} denied"
            );
        }
        // The admin still sees the entry as typed.
        assert_eq!(app.get_key(&id).await["restrictedModels"], json!([denied]));
    }
}

#[tokio::test]
async fn a_model_with_inner_spaces_is_a_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let (_, secret) = app
        .create_key(json!({"name": "m", "enableModelRestriction": true, "restrictedModels": ["claude-opus-4-1"]}))
        .await;
    for model in [
        "claude opus 4 1",
        "claude-opus-4-1\u{0}",
        "claude-opus-4-1\tx",
    ] {
        let (status, body) = app.verify(json!({"key": secret, "model": model})).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("model")),
            "{model:?}: {body}"
        );
    }
    // Blank is the same as no model.
    assert_eq!(
        code_of(&app, json!({"key": secret, "model": "  "})).await.0,
        StatusCode::OK
    );
}
