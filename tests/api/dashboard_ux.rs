//! What admins see over plain HTTP: one money, token and time format on every page, expiry
//! dates, wording, the sign-out message, static files, and log colours.

use std::process::Stdio;

use chrono::Datelike;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, LOCATION};
use reqwest::StatusCode;
use serde_json::json;

use crate::dashboard::{browser_like, csrf_of, sign_in, PASSWORD};
use crate::support::app::keyward_command;
use crate::support::{expires_soon, TestApp};

async fn spawn_in(zone: &str) -> TestApp {
    TestApp::spawn_with(&[
        ("KEYWARD_ADMIN_PASSWORD", PASSWORD),
        ("KEYWARD_TIMEZONE", zone),
    ])
    .await
}

async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    let response = client.get(app.url(path)).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.expect("html")
}

#[tokio::test]
async fn money_tokens_and_times_read_the_same_on_every_page() {
    let app = spawn_in("Asia/Shanghai").await;
    let (id, _) = app
        .create_key(
            json!({"name": "formats", "dailyCostLimit": 0.5, "claudeAccountId": "acct-fmt"}),
        )
        .await;
    let usage = json!({"keyId": id, "accountId": "acct-fmt", "model": "claude-haiku-4-5",
        "usage": {"input_tokens": 387_412, "output_tokens": 1_234}});
    assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);
    let client = browser_like();
    sign_in(&app, &client).await;

    let list = page(&app, &client, "/keys").await;
    // The limit as money ($0.50, not 0.5), today's cost with four significant digits.
    assert!(list.contains("/ $0.50"), "{list}");
    let haiku_cost = "$0.3936"; // 387,412 × $1/M + 1,234 × $5/M = $0.39358
    assert!(list.contains(haiku_cost), "{list}");
    assert!(list.contains("388.6k tok"), "tokens in short form: {list}");
    assert!(
        list.contains("79%"),
        "the budget bar carries its share as text"
    );
    assert!(list.contains("just now"), "last use, relative");
    assert!(list.contains("Showing 1–1 of 1"));
    // The live refresh sends the same figures.
    let live: serde_json::Value = client
        .get(app.url(&format!("/keys/live?ids={id}")))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(live["keys"][&id]["dailyCost"], haiku_cost);
    assert_eq!(live["keys"][&id]["dailyCostPercent"], "79%");

    let detail = page(&app, &client, &format!("/keys/{id}")).await;
    assert!(detail.contains(" CST"), "times carry their zone: {detail}");
    assert!(
        detail.contains(">387.4k<"),
        "input tokens in the model table"
    );
    assert!(detail.contains(">1,234<"), "output tokens with separators");
    assert!(
        detail.contains(r#"<th scope="row">Total</th>"#),
        "a totals row under the per-model table"
    );
    assert!(detail.contains(haiku_cost));

    let account = page(&app, &client, "/accounts/acct-fmt").await;
    assert!(account.contains(">388.6k<"), "the tokens card: {account}");
    assert!(account.contains(">387.4k<"), "the model table");
    let accounts = page(&app, &client, "/accounts").await;
    assert!(accounts.contains("388.6k tok") && accounts.contains(haiku_cost));
}

#[tokio::test]
async fn an_expiry_picked_as_a_date_shows_as_that_date() {
    let app = spawn_in("Asia/Shanghai").await;
    let client = browser_like();
    let csrf = sign_in(&app, &client).await;
    let year = chrono::Utc::now().year() + 1;
    let picked = format!("{year}-11-01");
    let form = [
        ("_csrf", csrf.as_str()),
        ("name", "dated"),
        ("permissions", "all"),
        ("isActive", "true"),
        ("expiryPreset", "date"),
        ("expiresOn", picked.as_str()),
    ];
    let response = client
        .post(app.url("/keys"))
        .form(&form)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let created = response.headers()[LOCATION].to_str().expect("location");
    let id = created
        .trim_start_matches("/keys/")
        .trim_end_matches("/created")
        .to_string();
    // Stored as the start of the next day in the zone: the key works through the picked day.
    assert_eq!(
        app.get_key(&id).await["expiresAt"],
        format!("{year}-11-01T16:00:00.000Z")
    );
    let shown = format!("end of {picked} CST");
    let next_midnight = format!("{year}-11-02 00:00");
    for path in [
        format!("/keys/{id}"),
        "/keys".to_string(),
        format!("/keys/{id}/edit"),
    ] {
        let html = page(&app, &client, &path).await;
        assert!(html.contains(&shown), "{path}: {html}");
        assert!(!html.contains(&next_midnight), "{path}");
    }
}

#[tokio::test]
async fn wording_counts_right_and_says_minutes() {
    let app = spawn_in("UTC").await;
    let soon = expires_soon();
    let (id, _) = app
        .create_key(json!({"name": "lone", "expiresAt": soon.at}))
        .await;
    let usage = json!({"keyId": id, "model": "claude-haiku-4-5", "usage": {"input_tokens": 10, "output_tokens": 1}});
    assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);
    soon.passed().await;
    let client = browser_like();
    let csrf = sign_in(&app, &client).await;
    let delete = page(&app, &client, &format!("/keys/{id}/delete")).await;
    assert!(delete.contains("(1 request,"), "{delete}");

    let response = client
        .post(app.url("/keys/disable-expired"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(page(&app, &client, "/keys")
        .await
        .contains("Disabled 1 expired key."));

    // Throttled sign-ins say how long to wait in plain words.
    let other = browser_like();
    let login = page(&app, &other, "/login").await;
    let csrf = csrf_of(&login);
    let mut last = String::new();
    for _ in 0..6 {
        let form = [
            ("_csrf", csrf.as_str()),
            ("username", "admin"),
            ("password", "wrong-password"),
        ];
        let response = other
            .post(app.url("/login"))
            .form(&form)
            .send()
            .await
            .expect("sent");
        last = response.text().await.expect("html");
    }
    assert!(last.contains("Try again in 15 minutes."), "{last}");
}

#[tokio::test]
async fn signing_out_says_so_on_the_sign_in_page() {
    let app = spawn_in("UTC").await;
    let client = browser_like();
    let csrf = sign_in(&app, &client).await;
    let response = client
        .post(app.url("/logout"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers()[LOCATION], "/login");
    let login = page(&app, &client, "/login").await;
    assert!(login.contains("Signed out."), "{login}");
    // Shown once, and the session is really gone.
    assert!(!page(&app, &client, "/login").await.contains("Signed out."));
    let keys = client.get(app.url("/keys")).send().await.expect("sent");
    assert_eq!(keys.headers()[LOCATION], "/login");
}

#[tokio::test]
async fn static_files_are_compressed_cacheable_and_there_is_a_favicon() {
    let app = TestApp::spawn().await;
    for encoding in ["gzip", "br"] {
        let response = app
            .http
            .get(app.url("/static/app.js"))
            .header(ACCEPT_ENCODING, encoding)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_ENCODING], encoding);
        assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=3600");
    }
    let plain = app
        .http
        .get(app.url("/static/app.css"))
        .send()
        .await
        .expect("sent");
    assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    assert!(plain.headers()[CACHE_CONTROL]
        .to_str()
        .expect("ascii")
        .contains("max-age"));
    let icon = app
        .http
        .get(app.url("/static/favicon.svg"))
        .send()
        .await
        .expect("sent");
    assert_eq!(icon.status(), StatusCode::OK);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    let missing = app
        .http
        .get(app.url("/static/nothing.js"))
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers().get(CACHE_CONTROL).is_none());
    let login = app
        .http
        .get(app.url("/login"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    assert!(login.contains(r#"rel="icon" href="/static/favicon.svg""#));
}

#[tokio::test]
async fn logs_are_plain_text_when_not_on_a_terminal() {
    let app = TestApp::spawn().await;
    let output = keyward_command(
        &app.redis.url(),
        app.data_dir.path(),
        &[("RUST_LOG", "info")],
    )
    .args(["keys", "disable-expired"])
    .stdin(Stdio::null())
    .output()
    .expect("keyward runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("INFO"), "logs were written: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no colour codes: {stderr:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("Disabled 0 expired keys."));
}
