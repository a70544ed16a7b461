//! The key holders' page `/stats` and `GET /api/v1/self`: a key's own limits and usage, one
//! generic refusal for wrong keys, the per-address throttle, and nothing of other keys.

use std::time::{Duration, Instant};

use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::browser::Browser;
use crate::support::TestApp;

const ACCOUNT: &str = "acct-hidden-42";

async fn key_with_usage(app: &TestApp) -> (String, String) {
    let (id, secret) = app
        .create_key(
            json!({"name": "holder-key", "dailyCostLimit": 2, "concurrencyLimit": 3,
            "rateLimitWindow": 60, "rateLimitRequests": 100, "claudeAccountId": ACCOUNT}),
        )
        .await;
    let usage = json!({"keyId": id, "accountId": ACCOUNT, "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": 100_000, "output_tokens": 2_000}});
    assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);
    (id, secret)
}

async fn self_lookup(app: &TestApp, bearer: Option<&str>) -> (StatusCode, String) {
    let mut request = app.http.get(app.url("/api/v1/self"));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.expect("sent");
    (response.status(), response.text().await.expect("body"))
}

#[tokio::test]
async fn self_shows_the_keys_own_limits_and_usage_and_nothing_else() {
    let app = TestApp::spawn().await;
    let (id, secret) = key_with_usage(&app).await;
    let (other_id, _) = app.create_key(json!({"name": "someone-else"})).await;
    let (status, body) = self_lookup(&app, Some(&secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["name"], "holder-key");
    assert_eq!(json["status"], "active");
    assert!(json["cost"]["total"].as_f64().expect("cost") > 0.0);
    assert_eq!(json["usage"]["total"]["requests"], 1);
    let fields: Vec<&str> = json["limits"]
        .as_array()
        .expect("limits")
        .iter()
        .map(|l| l["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        ["concurrencyLimit", "rateLimitRequests", "dailyCostLimit"]
    );
    for hidden in [
        ACCOUNT,
        id.as_str(),
        other_id.as_str(),
        "someone-else",
        "cr_",
    ] {
        assert!(!body.contains(hidden), "{hidden} in {body}");
    }

    let page = app
        .http
        .post(app.url("/stats"))
        .form(&[("key", secret.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("holder-key") && html.contains("Cost today"));
    for hidden in [
        ACCOUNT,
        id.as_str(),
        "someone-else",
        "href=\"/keys",
        "/logout",
        &secret,
    ] {
        assert!(!html.contains(hidden), "{hidden} on the page");
    }
}

#[tokio::test]
async fn a_wrong_removed_or_malformed_key_gets_one_refusal() {
    let app = TestApp::spawn().await;
    let (id, secret) = key_with_usage(&app).await;
    let (_, deleted) = app.create_key(json!({"name": "gone"})).await;
    let deleted_id = app.verify(json!({"key": deleted})).await.1["keyId"]
        .as_str()
        .expect("id")
        .to_string();
    let response = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/keys/{deleted_id}"),
            None,
        )
        .await;
    assert!(response.0.is_success());
    let wrong = format!("cr_{}", "0".repeat(64));
    let mut bodies = Vec::new();
    for bearer in [
        Some(wrong.as_str()),
        Some(deleted.as_str()),
        Some("nonsense"),
        None,
    ] {
        let (status, body) = self_lookup(&app, bearer).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bearer:?}");
        bodies.push(body);
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "{bodies:?}"
    );
    let mut pages = Vec::new();
    for key in [wrong.as_str(), deleted.as_str(), "nonsense"] {
        let response = app
            .http
            .post(app.url("/stats"))
            .form(&[("key", key)])
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        pages.push(response.text().await.expect("html"));
    }
    assert!(pages.windows(2).all(|pair| pair[0] == pair[1]));
    let _ = (id, secret);
}

#[tokio::test]
async fn lookups_are_throttled_per_address_before_any_work() {
    let app = TestApp::spawn_with(&[("KEYWARD_SELF_LOOKUPS_PER_MINUTE", "5")]).await;
    let (_, secret) = key_with_usage(&app).await;
    for n in 0..5 {
        let bearer = if n % 2 == 0 {
            "nonsense"
        } else {
            secret.as_str()
        };
        assert_ne!(
            self_lookup(&app, Some(bearer)).await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    // Past the limit even the right key is refused, on the API and on the page.
    let response = app
        .http
        .get(app.url("/api/v1/self"))
        .bearer_auth(&secret)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()[RETRY_AFTER]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait));
    let page = app
        .http
        .post(app.url("/stats"))
        .form(&[("key", secret.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    // Holders' lookups keep no session: the only state they leave is the address's counter.
    let keys = app.redis.all_keys();
    assert!(
        !keys.iter().any(|k| k.starts_with("kw:session:")),
        "{keys:?}"
    );
    assert!(keys.iter().any(|k| k.starts_with("kw:lookup:")), "{keys:?}");
}

#[tokio::test]
async fn a_holder_pastes_a_key_and_sees_the_numbers_move() {
    let app = TestApp::spawn_with(&[("KEYWARD_SELF_LOOKUPS_PER_MINUTE", "40")]).await;
    let (id, secret) = key_with_usage(&app).await;
    let browser = Browser::start().await;
    browser.goto(&app, "/stats").await;
    browser
        .fill("#key", &format!("cr_{}", "1".repeat(64)))
        .await;
    browser.click("#stats-form button[type=submit]").await;
    browser
        .wait_for_text("[data-testid=stats-error]", |t| t.contains("not accepted"))
        .await;
    assert!(!browser.exists("#stats-live").await);

    browser.fill("#key", &secret).await;
    browser.click("#stats-form button[type=submit]").await;
    let before = browser
        .wait_for_text("[data-field=totalRequests]", |t| t.starts_with('1'))
        .await;
    assert!(
        browser.path().await == "/stats",
        "the key is not in the URL"
    );
    let url: String = browser
        .run("return window.location.href")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!url.contains(&secret));
    let today = browser.text("[data-field=dailyCost]").await;
    assert!(browser.exists("[data-limit=dailyCostLimit] progress").await);

    let usage = json!({"keyId": id, "accountId": ACCOUNT, "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": 300_000, "output_tokens": 9_000}});
    assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);
    // The page refreshes itself with the key kept in the tab: the numbers move.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let requests = browser.text("[data-field=totalRequests]").await;
        if requests.starts_with('2') {
            break;
        }
        assert!(Instant::now() < deadline, "still {requests} (was {before})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(browser.text("[data-field=dailyCost]").await, today);
    browser.close().await;
}

#[tokio::test]
async fn every_budget_of_the_key_is_shown_with_its_use() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(
            json!({"name": "budgeted", "rateLimitWindow": 60, "rateLimitCost": 5,
            "weeklyCostLimit": 20, "monthlyCostLimit": 50, "totalCostLimit": 0.000001}),
        )
        .await;
    let (status, body) = app
        .record_usage(json!({"keyId": id, "model": "claude-sonnet-4-5",
            "usage": {"input_tokens": 1000, "output_tokens": 100}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = self_lookup(&app, Some(&secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    let limits = json["limits"].as_array().expect("limits");
    let fields: Vec<&str> = limits
        .iter()
        .map(|l| l["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        [
            "rateLimitCost",
            "weeklyCostLimit",
            "monthlyCostLimit",
            "totalCostLimit"
        ]
    );
    let total = &limits[3];
    assert!(total["used"].as_f64().expect("used") > total["limit"].as_f64().expect("limit"));
    assert_eq!(total["ratio"], 1.0, "the bar is full, not past it");

    // The page says how far past the limit the key is, where the bar can only be full.
    let page = app
        .http
        .post(app.url("/stats"))
        .form(&[("key", secret.as_str())])
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    assert!(page.contains("Cost all time"), "{page}");
    // $0.0045 of Sonnet 4.5 against a $0.000001 budget.
    assert!(page.contains("450000%"), "{page}");
}
