//! The dashboard in real headless Chromium: every flow an admin goes through.

use std::time::Duration;

use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;

use crate::dashboard::PASSWORD;
use crate::support::browser::Browser;
use crate::support::{expires_soon, TestApp};

async fn setup() -> (TestApp, Browser) {
    let app = TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]).await;
    let browser = Browser::start().await;
    (app, browser)
}

#[tokio::test]
async fn login_wrong_then_right_password_and_logout() {
    let (app, browser) = setup().await;
    browser.goto(&app, "/keys").await;
    browser.wait_for_path(|p| p == "/login").await;
    browser.screenshot("login").await;
    browser.fill("#username", "admin").await;
    browser.fill("#password", "not-the-password").await;
    browser.click("form.login-card button[type=submit]").await;
    // The refusal is rendered on the same path: wait for its message, not for the path.
    browser
        .wait_for_text(".flash-error", |t| t.contains("Wrong username or password"))
        .await;
    browser.screenshot("login-wrong").await;

    browser.log_in(&app, PASSWORD).await;
    assert!(
        browser.exists(".empty").await,
        "an empty list says what to do"
    );
    browser.screenshot("keys-empty").await;

    browser.click("form.logout button").await;
    browser.wait_for_path(|p| p == "/login").await;
    browser.goto(&app, "/keys").await;
    browser.wait_for_path(|p| p == "/login").await;
    browser.close().await;
}

#[tokio::test]
async fn create_through_the_form_shows_the_secret_once_and_it_verifies() {
    let (app, browser) = setup().await;
    browser.log_in(&app, PASSWORD).await;
    browser.click("a[href='/keys/new']").await;
    browser.wait_for_path(|p| p == "/keys/new").await;
    browser.screenshot("key-new").await;
    // Every input has a label.
    let unlabelled: serde_json::Value = browser
        .client
        .execute(
            "return [...document.querySelectorAll('form.key-form input:not([type=hidden]), form.key-form select, form.key-form textarea')]
                .filter(e => !document.querySelector('label[for=\"' + e.id + '\"]')).map(e => e.name)",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(unlabelled, json!([]));

    browser.fill("#name", "Browser team").await;
    browser.fill("#tags", "web, prod").await;
    browser.fill("#concurrencyLimit", "3").await;
    browser.fill("#dailyCostLimit", "2.5").await;
    browser.fill("#claudeAccountId", "acct-browser").await;
    browser.click("#client-claude_code").await;
    browser.click("form.key-form button[type=submit]").await;
    browser.wait_for_path(|p| p.ends_with("/created")).await;
    let secret = browser.text("[data-testid=new-key-secret]").await;
    assert!(secret.starts_with("cr_") && secret.len() == 67, "{secret}");
    browser.screenshot("key-secret").await;

    let (status, body) = app
        .verify(json!({"key": secret, "service": "claude"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["keyData"]["name"], "Browser team");
    assert_eq!(body["keyData"]["tags"], json!(["web", "prod"]));
    assert_eq!(body["keyData"]["concurrencyLimit"], 3);
    assert_eq!(body["keyData"]["dailyCostLimit"], 2.5);
    assert_eq!(body["keyData"]["allowedClients"], json!(["claude_code"]));

    // Reloading the result shows the key without its secret and creates no second key.
    browser.client.refresh().await.expect("reload");
    let key_page = browser
        .wait_for_path(|p| p.starts_with("/keys/") && !p.ends_with("/created"))
        .await;
    assert!(!browser
        .client
        .source()
        .await
        .expect("html")
        .contains(&secret));
    assert_eq!(app.key_total().await, 1, "reloaded on {key_page}");

    // The secret is not on any later page.
    browser.goto(&app, "/keys").await;
    assert!(!browser
        .client
        .source()
        .await
        .expect("html")
        .contains(&secret));
    browser.close().await;
}

#[tokio::test]
async fn bad_form_input_shows_messages_keeps_values_and_writes_nothing() {
    let (app, browser) = setup().await;
    browser.log_in(&app, PASSWORD).await;
    browser.goto(&app, "/keys/new").await;
    browser.fill("#name", "").await;
    browser.fill("#description", "kept text").await;
    browser.fill("#concurrencyLimit", "-4").await;
    browser.fill("#dailyCostLimit", "lots").await;
    browser.click("form.key-form button[type=submit]").await;
    browser.wait_for_path(|p| p == "/keys").await;
    assert!(browser.text("#name-error").await.contains("required"));
    assert!(browser
        .text("#concurrencyLimit-error")
        .await
        .contains("whole number"));
    assert!(browser.text("#dailyCostLimit-error").await.contains("USD"));
    assert_eq!(browser.text("#description").await, "kept text");
    browser.screenshot("key-form-errors").await;
    assert_eq!(app.key_total().await, 0);
    browser.close().await;
}

#[tokio::test]
async fn edit_disable_enable_and_delete_with_flashes() {
    let (app, browser) = setup().await;
    let (id, secret) = app
        .create_key(json!({"name": "editable", "tags": ["a"]}))
        .await;
    browser.log_in(&app, PASSWORD).await;
    let row = format!("tr[data-key-id='{id}']");

    browser.click(&format!("{row} a[href$='/edit']")).await;
    browser.wait_for_path(|p| p.ends_with("/edit")).await;
    browser.fill("#name", "edited name").await;
    browser.fill("#rateLimitWindow", "10").await;
    browser.fill("#rateLimitRequests", "100").await;
    browser.click("form.key-form button[type=submit]").await;
    browser.wait_for_path(|p| p == format!("/keys/{id}")).await;
    assert!(browser.text(".flash").await.contains("Saved"));
    browser.screenshot("key-detail").await;
    let key = app.get_key(&id).await;
    assert_eq!(
        (
            key["name"].as_str(),
            key["rateLimitWindow"].as_u64(),
            key["tags"].clone()
        ),
        (Some("edited name"), Some(10), json!(["a"]))
    );

    browser.goto(&app, "/keys").await;
    browser
        .click(&format!("{row} form[action$='/active'] button"))
        .await;
    browser.wait_for_path(|p| p == "/keys").await;
    // The form redirects back to the page it was on: wait for the new page's content.
    browser
        .wait_for_text(&format!("{row} .badge"), |t| t == "disabled")
        .await;
    assert!(browser.text(".flash").await.contains("Disabled"));
    assert_eq!(
        app.verify(json!({"key": secret})).await.1["error"]["code"],
        "disabled"
    );
    browser
        .click(&format!("{row} form[action$='/active'] button"))
        .await;
    browser
        .wait_for_text(&format!("{row} .badge"), |t| t == "active")
        .await;

    browser.click(&format!("{row} a[href$='/delete']")).await;
    browser.wait_for_path(|p| p.ends_with("/delete")).await;
    browser.screenshot("key-delete").await;
    browser.click("button.button-danger").await;
    browser.wait_for_path(|p| p == "/keys").await;
    assert!(browser.text(".flash").await.contains("Deleted"));
    assert!(!browser.exists(&row).await);
    assert_eq!(
        app.verify(json!({"key": secret})).await.1["error"]["code"],
        "not_found"
    );
    browser.close().await;
}

#[tokio::test]
async fn disable_expired_button_reports_how_many() {
    let (app, browser) = setup().await;
    let soon = expires_soon();
    app.create_key(json!({"name": "old one", "expiresAt": soon.at}))
        .await;
    app.create_key(json!({"name": "old two", "expiresAt": soon.at}))
        .await;
    app.create_key(json!({"name": "fresh"})).await;
    soon.passed().await;
    browser.log_in(&app, PASSWORD).await;
    let button = "form[action='/keys/disable-expired'] button";
    assert!(browser
        .text(button)
        .await
        .contains("Disable expired keys (2)"));
    browser.click(button).await;
    // The form redirects back to /keys, the path it is on: wait for the new page's content.
    browser
        .wait_for_text(".flash", |t| t.contains("Disabled 2 expired keys"))
        .await;
    assert!(browser.text(button).await.contains("(0)"));
    browser.close().await;
}

#[tokio::test]
async fn live_values_update_without_reload_and_the_countdown_ticks() {
    let (app, browser) = setup().await;
    let (id, secret) = app
        .create_key(json!({"name": "live", "concurrencyLimit": 5, "rateLimitWindow": 60, "rateLimitRequests": 100, "dailyCostLimit": 1}))
        .await;
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    browser.log_in(&app, PASSWORD).await;
    let cell = |field: &str| format!("tr[data-key-id='{id}'] [data-field='{field}']");
    assert_eq!(browser.text(&cell("currentConcurrency")).await, "1");
    // Mark the page: a reload would lose the mark.
    browser
        .client
        .execute("window.__noReload = true", vec![])
        .await
        .expect("script");

    for _ in 0..2 {
        assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    }
    let usage = json!({"keyId": id, "model": "claude-sonnet-4-5", "usage": {"input_tokens": 100000, "output_tokens": 0}});
    assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);
    browser
        .wait_for_text(&cell("currentConcurrency"), |t| t == "3")
        .await;
    browser
        .wait_for_text(&cell("dailyCost"), |t| t.contains("0.3"))
        .await;
    let still_same_page = browser
        .client
        .execute("return window.__noReload === true", vec![])
        .await
        .expect("script");
    assert_eq!(still_same_page, json!(true), "updated without a reload");

    let first = browser.text(&cell("windowRemainingSeconds")).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let later = browser.text(&cell("windowRemainingSeconds")).await;
    assert!(
        first.contains(':') && later.contains(':'),
        "{first} / {later}"
    );
    assert_ne!(first, later, "the countdown ticks");
    browser.screenshot("keys-live").await;
    browser.close().await;
}

#[tokio::test]
async fn account_page_draws_charts_and_lists_bound_keys() {
    let (app, browser) = setup().await;
    let (id, _) = app
        .create_key(json!({"name": "bound", "claudeAccountId": "acct-chart"}))
        .await;
    for (model, tokens) in [("claude-sonnet-4-5", 2000), ("claude-haiku-4-5", 5000)] {
        let usage = json!({"keyId": id, "accountId": "acct-chart", "model": model, "usage": {"input_tokens": tokens, "output_tokens": 100}});
        assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);
    }
    browser.log_in(&app, PASSWORD).await;
    browser.goto(&app, "/accounts").await;
    browser.screenshot("accounts").await;
    browser.click("a[href='/accounts/acct-chart']").await;
    browser.wait_for_path(|p| p == "/accounts/acct-chart").await;
    // Chart.js draws into the canvas: it gets a chart instance and non-blank pixels.
    browser
        .client
        .wait()
        .for_element(Locator::Css("canvas.chart"))
        .await
        .expect("chart");
    let drawn: serde_json::Value = browser
        .client
        .execute(
            "const c = document.querySelector('canvas.chart');
             const chart = window.Chart && Chart.getChart(c);
             if (!chart) return null;
             return {models: chart.data.datasets.map(d => d.label).sort(), painted: c.toDataURL().length > 5000};",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(
        drawn["models"],
        // One series per canonical model (the reports named the aliases).
        json!(["claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"]),
        "{drawn}"
    );
    assert_eq!(drawn["painted"], true);
    assert!(browser
        .text(".data-table")
        .await
        .contains("claude-haiku-4-5"));
    assert!(
        browser.exists(&format!("a[href='/keys/{id}']")).await,
        "bound key listed"
    );
    browser.screenshot("account").await;
    browser.goto(&app, &format!("/keys/{id}?days=30")).await;
    assert!(browser.exists("canvas.chart").await);
    browser.screenshot("key-detail-charts").await;
    browser.close().await;
}

#[tokio::test]
async fn hostile_key_names_show_as_text() {
    let (app, browser) = setup().await;
    let name = "<img src=x onerror=alert(1)>";
    let (id, _) = app
        .create_key(json!({"name": name, "tags": ["<b>t</b>"]}))
        .await;
    browser.log_in(&app, PASSWORD).await;
    let shown = browser
        .text(&format!("tr[data-key-id='{id}'] .key-name"))
        .await;
    assert_eq!(shown, name);
    assert!(
        !browser.exists(&format!("tr[data-key-id='{id}'] img")).await,
        "no element was injected"
    );
    browser.goto(&app, &format!("/keys/{id}")).await;
    assert!(browser.text("h1").await.contains(name));
    assert!(!browser.exists("main img").await);
    browser.close().await;
}

#[tokio::test]
async fn phone_width_turns_rows_into_cards() {
    let (app, browser) = setup().await;
    app.create_key(json!({"name": "phone", "concurrencyLimit": 2, "tags": ["m"]}))
        .await;
    browser.log_in(&app, PASSWORD).await;
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("resize");
    let header_hidden = browser
        .client
        .execute("return getComputedStyle(document.querySelector('.keys-table thead')).display === 'none' || getComputedStyle(document.querySelector('.keys-table thead')).position === 'absolute'", vec![])
        .await
        .expect("script");
    browser.screenshot("keys-phone").await;
    assert_eq!(header_hidden, json!(true));
    browser.close().await;
}
