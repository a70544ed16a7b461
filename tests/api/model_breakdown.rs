//! Usage breakdowns by canonical model: a fallback-priced model is called out on the key and
//! account pages, and a model keeps one colour on every chart.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::dashboard::{browser_like, sign_in, spawn, PASSWORD};
use crate::support::browser::Browser;
use crate::support::TestApp;

const ACCOUNT: &str = "acct-colours";

async fn record(app: &TestApp, key_id: &str, model: &str) {
    let (status, body) = app
        .record_usage(json!({
            "keyId": key_id, "accountId": ACCOUNT, "model": model,
            "usage": {"input_tokens": 1000, "output_tokens": 100}
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Two keys on one account with different models, so the models sit in different places on the
/// key page and the account page.
async fn seed(app: &TestApp) -> String {
    let (first, _) = app
        .create_key(json!({"name": "first", "claudeAccountId": ACCOUNT}))
        .await;
    let (second, _) = app
        .create_key(json!({"name": "second", "claudeAccountId": ACCOUNT}))
        .await;
    record(app, &first, "claude-sonnet-4-5").await;
    record(app, &first, "mystery-model-9").await;
    record(app, &first, "mystery-model-9").await;
    for _ in 0..3 {
        record(app, &second, "claude-opus-4-1").await;
    }
    record(app, &second, "us.anthropic.claude-sonnet-4-5-20250929-v1:0").await;
    first
}

#[tokio::test]
async fn fallback_priced_models_are_named_on_the_key_and_account_pages() {
    let app = spawn().await;
    let first = seed(&app).await;
    let client = browser_like();
    sign_in(&app, &client).await;
    for path in [format!("/keys/{first}"), format!("/accounts/{ACCOUNT}")] {
        let html = client
            .get(app.url(&path))
            .send()
            .await
            .expect("sent")
            .text()
            .await
            .expect("html");
        assert!(html.contains("Priced with the fallback price"), "{path}");
        assert!(html.contains("mystery-model-9 (2 requests)"), "{path}");
        assert!(
            !html.contains("claude-sonnet-4-5-20250929 ("),
            "a priced model is not listed on {path}"
        );
    }
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    let counted = metrics
        .lines()
        .find(|l| l.starts_with("keyward_usage_fallback_priced_total"))
        .expect("fallback counter");
    assert!(counted.ends_with(" 2"), "{counted}");
}

/// The colour each model's series got on the charts of the page open in `browser`.
async fn series_colours(browser: &Browser) -> Value {
    browser
        .client
        .execute(
            "const canvas = document.querySelector('canvas.chart');
             const chart = window.Chart.getChart(canvas);
             const colours = {};
             chart.data.datasets.forEach(d => { colours[d.label] = d.backgroundColor; });
             return colours;",
            vec![],
        )
        .await
        .expect("script")
}

#[tokio::test]
async fn a_model_has_the_same_colour_on_every_chart() {
    let app = spawn().await;
    let first = seed(&app).await;
    let browser = Browser::start().await;
    browser.log_in(&app, PASSWORD).await;
    browser.goto(&app, &format!("/keys/{first}")).await;
    browser.wait_for_path(|p| p.starts_with("/keys/")).await;
    let on_key_page = series_colours(&browser).await;
    browser.screenshot("key-fallback-priced").await;
    browser.goto(&app, &format!("/accounts/{ACCOUNT}")).await;
    browser.wait_for_path(|p| p.starts_with("/accounts/")).await;
    let on_account_page = series_colours(&browser).await;
    browser.screenshot("account-fallback-priced").await;
    browser.close().await;

    // The Bedrock spelling and the alias are one model, one series.
    let sonnet = "claude-sonnet-4-5-20250929";
    let account_models: Vec<&String> = on_account_page
        .as_object()
        .expect("object")
        .keys()
        .collect();
    assert_eq!(account_models.len(), 3, "{on_account_page}");
    assert!(on_key_page[sonnet].is_string(), "{on_key_page}");
    assert_eq!(on_key_page[sonnet], on_account_page[sonnet]);
    assert_eq!(
        on_key_page["mystery-model-9"],
        on_account_page["mystery-model-9"]
    );
    // Distinct models in one chart get distinct colours.
    let colours: std::collections::BTreeSet<&str> = on_account_page
        .as_object()
        .expect("object")
        .values()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(colours.len(), 3);
}
