//! Concurrency leases: renew, release (also through a usage record), expiry.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn leases_renew_release_and_free_their_slot() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "l", "concurrencyLimit": 1}))
        .await;
    let (status, body) = app.admit(&secret).await;
    assert_eq!(status, StatusCode::OK);
    let lease = body["lease"]["id"].as_str().expect("lease").to_string();
    assert!(body["lease"]["expiresAt"].is_string());
    assert_eq!(
        app.admit(&secret).await.1["error"]["code"],
        "concurrency_limit"
    );

    let renew = format!("/api/v1/leases/{lease}/renew");
    assert_eq!(
        app.relay(Method::POST, &renew, None).await.0,
        StatusCode::NO_CONTENT
    );
    let release = format!("/api/v1/leases/{lease}");
    assert_eq!(
        app.relay(Method::DELETE, &release, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.relay(Method::DELETE, &release, None).await.0,
        StatusCode::NO_CONTENT,
        "idempotent"
    );
    assert_eq!(
        app.relay(Method::POST, &renew, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.relay(Method::POST, "/api/v1/leases/garbage/renew", None)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    // A usage record that names the lease releases it.
    let (_, body) = app.admit(&secret).await;
    let lease = body["lease"]["id"].as_str().expect("lease").to_string();
    let usage = json!({"keyId": id, "model": "claude-sonnet-4-5", "lease": lease, "usage": {"input_tokens": 1, "output_tokens": 1}});
    assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);
    assert_eq!(app.get_key(&id).await["currentConcurrency"], 0);
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_unreleased_lease_expires_by_itself() {
    let app = TestApp::spawn_with(&[("KEYWARD_LEASE_TTL_SECS", "1")]).await;
    let (id, secret) = app
        .create_key(json!({"name": "l", "concurrencyLimit": 1}))
        .await;
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    assert_eq!(
        app.admit(&secret).await.1["error"]["code"],
        "concurrency_limit"
    );
    // The relay "crashed": nobody renews or releases.
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(app.get_key(&id).await["currentConcurrency"], 0);
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
}
