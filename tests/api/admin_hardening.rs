//! What a real admin hit: a reloaded "key created" page, a wrong encryption key, a relay API
//! with no token configured, and settings that silently do nothing or lock a key out.

use std::time::{Duration, Instant};

use reqwest::header::{CACHE_CONTROL, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::dashboard::{browser_like, csrf_of, sign_in, spawn};
use crate::support::app::keyward_command;
use crate::support::{RedisServer, TestApp};

#[tokio::test]
async fn the_new_key_page_shows_the_secret_once_and_a_reload_creates_nothing() {
    let app = spawn().await;
    let client = browser_like();
    let csrf = sign_in(&app, &client).await;
    let form = [
        ("_csrf", csrf.as_str()),
        ("name", "reloaded"),
        ("permissions", "all"),
        ("isActive", "true"),
        ("expiryPreset", "never"),
    ];
    let created = client
        .post(app.url("/keys"))
        .form(&form)
        .send()
        .await
        .expect("sent");
    assert_eq!(created.status(), StatusCode::SEE_OTHER, "post/redirect/get");
    let target = created.headers()[LOCATION]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(target.ends_with("/created"), "{target}");
    assert!(!target.contains("cr_"), "the secret never travels in a URL");

    let shown = client.get(app.url(&target)).send().await.expect("sent");
    assert_eq!(shown.status(), StatusCode::OK);
    assert_eq!(shown.headers()[CACHE_CONTROL], "no-store");
    let html = shown.text().await.expect("html");
    assert!(html.contains(r#"data-testid="new-key-secret""#));
    let secret_start = html.find(">cr_").expect("secret shown") + 1;
    let secret = &html[secret_start..secret_start + 67];
    assert_eq!(app.verify(json!({"key": secret})).await.0, StatusCode::OK);

    // A reload (or the back button) gets the key page, without the secret, and no new key.
    let again = client.get(app.url(&target)).send().await.expect("sent");
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let key_page = client
        .get(app.url(again.headers()[LOCATION].to_str().expect("ascii")))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    assert!(!key_page.contains(secret));
    assert!(key_page.contains("shown once"));
    assert_eq!(app.key_total().await, 1);
}

/// Runs keyward against `app`'s Redis with another encryption key; returns its exit status and
/// what it printed, or `None` if it was still running after `wait`.
fn start_with_other_key(
    app: &TestApp,
    data_dir: &std::path::Path,
    wait: Duration,
) -> Option<(std::process::ExitStatus, String)> {
    let mut child = keyward_command(
        &app.redis.url(),
        data_dir,
        &[("KEYWARD_ENCRYPTION_KEY", "a-different-encryption-key-0123")],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("keyward starts");
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if child.try_wait().expect("status").is_some() {
            let output = child.wait_with_output().expect("output");
            let text = String::from_utf8_lossy(&output.stderr).to_string()
                + &String::from_utf8_lossy(&output.stdout);
            return Some((output.status, text));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[tokio::test]
async fn a_different_encryption_key_is_refused_at_start_naming_the_setting() {
    let app = TestApp::spawn().await;
    let (_, secret) = app.create_key(json!({"name": "existing"})).await;
    let other_dir = tempfile::tempdir().expect("temp dir");
    let (status, output) = start_with_other_key(&app, other_dir.path(), Duration::from_secs(20))
        .expect("keyward refuses to start instead of serving");
    assert!(!status.success());
    assert!(output.contains("KEYWARD_ENCRYPTION_KEY"), "{output}");
    assert!(
        output.contains("encryption.key"),
        "names the key file: {output}"
    );
    assert!(
        !output.contains("a-different-encryption-key"),
        "never prints the key"
    );
    // The first instance, with the right key, is untouched.
    assert_eq!(app.verify(json!({"key": secret})).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_different_encryption_key_is_refused_once_redis_comes_back() {
    // Every write reaches the disk, so what the first instance stored survives the kill below
    // (on every node of a cluster).
    let redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut app = TestApp::spawn_on(redis, &[("KEYWARD_REDIS_TIMEOUT_MS", "300")]).await;
    app.create_key(json!({"name": "existing"})).await;
    app.redis.kill();
    let other_dir = tempfile::tempdir().expect("temp dir");
    let mut child = keyward_command(
        &app.redis.url(),
        other_dir.path(),
        &[
            ("KEYWARD_ENCRYPTION_KEY", "a-different-encryption-key-0123"),
            ("KEYWARD_REDIS_TIMEOUT_MS", "300"),
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("keyward starts");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().expect("status").is_none(),
        "with Redis down it starts (and answers 503) as before"
    );
    app.redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("keyward kept serving with the wrong encryption key");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success());
    let output = child.wait_with_output().expect("output");
    assert!(String::from_utf8_lossy(&output.stderr).contains("KEYWARD_ENCRYPTION_KEY"));
}

#[tokio::test]
async fn the_relay_api_says_when_no_service_token_is_configured() {
    let app = TestApp::spawn_with(&[("KEYWARD_SERVICE_TOKEN", "")]).await;
    let response = app
        .http
        .post(app.url("/api/v1/keys/verify"))
        .bearer_auth("anything")
        .json(&json!({"key": "cr_x"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = response.json().await.expect("json");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("KEYWARD_SERVICE_TOKEN"), "{message}");
}

#[tokio::test]
async fn the_api_refuses_settings_that_do_nothing_or_lock_the_key() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"name": "a", "rateLimitRequests": 10}),
            "rateLimitRequests",
        ),
        (json!({"name": "a", "tokenLimit": 1000}), "tokenLimit"),
        (
            json!({"name": "a", "dailyCostLimit": 1e-12}),
            "dailyCostLimit",
        ),
        (
            json!({"name": "a", "enableClientRestriction": true}),
            "allowedClients",
        ),
        (
            json!({"name": "a", "enableModelRestriction": true, "restrictedModels": []}),
            "restrictedModels",
        ),
        (
            json!({"name": "a", "expiresAt": "2020-01-01T00:00:00Z"}),
            "expiresAt",
        ),
    ];
    for (body, field) in cases {
        let (status, reply) = app
            .admin(Method::POST, "/api/v1/admin/keys", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply["error"]["field"], field, "{body}");
    }
    assert_eq!(app.key_total().await, 0, "nothing was created");

    let (id, _) = app
        .create_key(json!({"name": "w", "rateLimitWindow": 10, "rateLimitRequests": 5}))
        .await;
    let path = format!("/api/v1/admin/keys/{id}");
    let (status, reply) = app
        .admin(Method::PATCH, &path, Some(json!({"rateLimitWindow": 0})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply["error"]["field"], "rateLimitRequests");
    assert_eq!(app.get_key(&id).await["rateLimitWindow"], 10, "unchanged");
    let (status, _) = app
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"rateLimitWindow": 0, "rateLimitRequests": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "turning both off together is fine");
}

#[tokio::test]
async fn the_form_refuses_the_same_settings_on_their_fields() {
    let app = spawn().await;
    let client = browser_like();
    let csrf = sign_in(&app, &client).await;
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    let form = [
        ("_csrf", csrf.as_str()),
        ("name", "locked"),
        ("permissions", "all"),
        ("isActive", "true"),
        ("rateLimitRequests", "100"),
        ("enableClientRestriction", "true"),
        ("expiryPreset", "date"),
        ("expiresOn", yesterday.as_str()),
    ];
    let response = client
        .post(app.url("/keys"))
        .form(&form)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.expect("html");
    for id in [
        "rateLimitRequests-error",
        "allowedClients-error",
        "expiresOn-error",
    ] {
        assert!(
            html.contains(&format!(r#"id="{id}""#)),
            "{id} has its message"
        );
    }
    // The form keeps what was typed, with a fresh token to submit again.
    assert!(html.contains(r#"value="locked""#));
    assert_eq!(csrf_of(&html).len(), 64);
    assert_eq!(app.key_total().await, 0);
}
