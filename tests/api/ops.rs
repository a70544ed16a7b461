//! Operations: health, metrics, security headers, and surviving a Redis outage.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn health_and_metrics() {
    let app = TestApp::spawn().await;
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), StatusCode::OK);
    let (_, secret) = app.create_key(json!({"name": "m"})).await;
    app.verify(json!({"key": secret})).await;
    app.verify(json!({"key": "nope"})).await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("keyward_http_requests_total"), "{metrics}");
    assert!(metrics.contains("keyward_http_request_duration_seconds"));
    assert!(metrics.contains(r#"keyward_verify_total{outcome="valid"} 1"#));
    assert!(metrics.contains(r#"keyward_verify_total{outcome="invalid_format"} 1"#));
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    let headers = response.headers();
    assert!(headers["content-security-policy"]
        .to_str()
        .expect("ascii")
        .contains("script-src 'self'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.contains_key("referrer-policy"));
}

#[tokio::test]
async fn redis_outage_gives_503s_and_recovers_by_itself() {
    let mut app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "o", "concurrencyLimit": 3}))
        .await;
    app.redis.kill();

    // Each call would fail on the client's 10 s timeout if keyward hung waiting for Redis.
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = app.admit(&secret).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "storage_unavailable");
    let usage = json!({"keyId": id, "model": "claude-sonnet-4-5", "usage": {"input_tokens": 1, "output_tokens": 1}});
    assert_eq!(
        app.record_usage(usage).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.admin(Method::GET, "/api/v1/admin/keys", None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    app.redis.restart();
    // The data is gone (this Redis keeps nothing on disk), but the service is back by itself.
    app.wait_until_healthy().await;
    let (_, secret) = app.create_key(json!({"name": "after"})).await;
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
}

#[tokio::test]
async fn keyward_starts_while_redis_is_down() {
    let mut redis = crate::support::RedisServer::start();
    redis.kill();
    let app = TestApp::spawn_on(redis, &[]).await;
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn no_acknowledged_usage_is_lost_when_redis_crashes_with_fsync_always() {
    let redis = crate::support::RedisServer::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]);
    let mut app = TestApp::spawn_on(redis, &[]).await;
    let (id, _) = app.create_key(json!({"name": "durable"})).await;
    let body = json!({"keyId": id, "model": "claude-sonnet-4-5", "usage": {"input_tokens": 1, "output_tokens": 1}});
    // Records in flight while Redis is killed: some are acknowledged, some get 503.
    let mut acknowledged = 0;
    for round in 0..20 {
        if round == 10 {
            app.redis.kill();
        }
        let results =
            futures::future::join_all((0..20).map(|_| app.record_usage(body.clone()))).await;
        acknowledged += results.iter().filter(|(s, _)| *s == StatusCode::OK).count() as u64;
    }
    app.redis.restart();
    app.wait_until_healthy().await;
    let recorded = app.get_key(&id).await["usage"]["total"]["requests"]
        .as_u64()
        .expect("count");
    assert!(
        acknowledged >= 200,
        "the first ten rounds ran before the crash: {acknowledged}"
    );
    assert!(
        recorded >= acknowledged,
        "every 200 survived the crash: {recorded} recorded, {acknowledged} acknowledged"
    );
    assert!(recorded <= 400);
}
