//! Operations: health, metrics, security headers, and surviving a Redis outage.

use std::time::{Duration, Instant};

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
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let health = app
            .http
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("sent");
        if health.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "keyward did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
