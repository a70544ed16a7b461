//! The dashboard's budget bars, the "limited" badge, and live totals.

use reqwest::StatusCode;
use serde_json::json;

use crate::dashboard::{browser_like, sign_in, spawn};
use crate::support::TestApp;

async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> String {
    let response = client.get(app.url(path)).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.expect("html")
}

#[tokio::test]
async fn rows_and_the_key_page_show_budget_bars_and_what_limits_the_key() {
    let app = spawn().await;
    let client = browser_like();
    sign_in(&app, &client).await;
    let (id, _) = app
        .create_key(
            json!({"name": "b", "dailyCostLimit": 0.01, "weeklyCostLimit": 0.0111,
                           "monthlyCostLimit": 1, "totalCostLimit": 0.02}),
        )
        .await;
    let list = page(&app, &client, "/keys").await;
    assert!(
        list.contains(r#"data-field="limitedBy"></span>"#),
        "an empty limitedBy cell while nothing limits the key: {list}"
    );
    // $0.010002 spent: the daily limit is reached, the weekly one is past 80 %.
    let (status, _) = app
        .record_usage(json!({"keyId": id, "model": "claude-sonnet-4-5",
                             "usage": {"input_tokens": 3334, "output_tokens": 0}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let list = page(&app, &client, "/keys").await;
    assert!(
        list.contains(r#"data-field="limitedBy">limited: daily cost</span>"#),
        "{list}"
    );
    assert!(list.contains("budget-warn"), "weekly bar is amber: {list}");
    assert!(list.contains("90% · near the limit"), "with text: {list}");
    assert!(
        list.contains(r#"This month <span data-part="spent">$0.01</span> / $1.00"#),
        "{list}"
    );
    assert!(list.contains("budget-ok"), "{list}");
    let detail = page(&app, &client, &format!("/keys/{id}")).await;
    assert!(detail.contains("limited: daily cost"), "{detail}");
    assert!(detail.contains("near the limit"), "{detail}");

    // Reaching the total: its bar turns red and says so.
    app.record_usage(json!({"keyId": id, "model": "claude-sonnet-4-5",
                            "usage": {"input_tokens": 4000, "output_tokens": 0}}))
        .await;
    let detail = page(&app, &client, &format!("/keys/{id}")).await;
    assert!(detail.contains("budget-full"), "{detail}");
    assert!(detail.contains("limit reached"), "{detail}");

    // The live refresh carries the total and the badge with today's cost.
    let live: serde_json::Value = client
        .get(app.url(&format!("/keys/live?ids={id}")))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let row = &live["keys"][&id];
    assert_eq!(row["limitedBy"], "limited: daily cost", "{live}");
    assert_eq!(row["totalCost"], row["dailyCost"], "one day of use: {live}");
}

#[tokio::test]
async fn the_key_page_extends_and_releases_stuck_leases() {
    let app = spawn().await;
    let client = browser_like();
    sign_in(&app, &client).await;
    let in_ten_days = chrono::Utc::now() + chrono::Duration::days(10);
    let (id, secret) = app
        .create_key(
            json!({"name": "t", "expiresAt": in_ten_days.to_rfc3339(), "isActive": false,
                           "concurrencyLimit": 2}),
        )
        .await;
    let detail = page(&app, &client, &format!("/keys/{id}")).await;
    assert!(detail.contains("Release stuck leases"), "{detail}");
    assert!(detail.contains(r#"<option value="30" selected>30 days</option>"#));
    let csrf = crate::dashboard::csrf_of(&detail);
    let response = client
        .post(app.url(&format!("/keys/{id}/extend")))
        .form(&[("_csrf", csrf.as_str()), ("days", "30"), ("enable", "true")])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = page(&app, &client, &format!("/keys/{id}")).await;
    assert!(html.contains("Extended by 30 days and enabled."), "{html}");
    let key = app.get_key(&id).await;
    assert_eq!(key["isActive"], true);
    let expires = chrono::DateTime::parse_from_rfc3339(key["expiresAt"].as_str().expect("set"))
        .expect("time");
    let expected = in_ten_days + chrono::Duration::days(30);
    assert!(
        (expires.timestamp() - expected.timestamp()).abs() < 2,
        "{key}"
    );

    for _ in 0..2 {
        assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    }
    let response = client
        .post(app.url(&format!("/keys/{id}/leases/release")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = page(&app, &client, &format!("/keys/{id}")).await;
    assert!(html.contains("Released 2 leases."), "{html}");
    assert_eq!(app.get_key(&id).await["currentConcurrency"], 0);
    // Without the CSRF token nothing happens.
    let response = client
        .post(app.url(&format!("/keys/{id}/extend")))
        .form(&[("days", "30")])
        .send()
        .await
        .expect("sent");
    assert_ne!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get_key(&id).await["expiresAt"], key["expiresAt"]);
}

#[tokio::test]
async fn the_key_form_sets_budgets_addresses_and_the_model_list_mode_with_api_validation() {
    let app = spawn().await;
    let client = browser_like();
    let csrf = sign_in(&app, &client).await;
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let client = client.clone();
        let url = app.url("/keys");
        let csrf = csrf.clone();
        async move {
            let mut form = vec![
                ("_csrf", csrf),
                ("name", "formed".to_string()),
                ("permissions", "all".to_string()),
                ("isActive", "true".to_string()),
                ("expiryPreset", "never".to_string()),
            ];
            form.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
            client.post(url).form(&form).send().await.expect("sent")
        }
    };
    // Bad values are refused on their fields, all at once, like the API.
    let refused = post(vec![
        ("allowedIps", "10.0.0.0/33"),
        ("weeklyCostLimit", "lots"),
        ("weeklyResetHour", "25"),
    ])
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.expect("html");
    for field in ["allowedIps", "weeklyCostLimit", "weeklyResetHour"] {
        assert!(
            html.contains(&format!(r#"id="{field}-error""#)),
            "{field}: {html}"
        );
    }
    // A budget that can never apply (no window) is refused on its field.
    let refused = post(vec![("rateLimitCost", "2")]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.expect("html");
    assert!(html.contains(r#"id="rateLimitCost-error""#), "{html}");
    let created = post(vec![
        ("allowedIps", "10.0.0.0/8\n2001:db8::/32"),
        ("weeklyCostLimit", "25"),
        ("weeklyResetDay", "7"),
        ("weeklyResetHour", "9"),
        ("monthlyCostLimit", "80"),
        ("totalCostLimit", "500"),
        ("rateLimitWindow", "60"),
        ("rateLimitCost", "2.5"),
        ("enableModelRestriction", "true"),
        ("modelRestrictionMode", "allow"),
        ("restrictedModels", "claude-sonnet-4*"),
    ])
    .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let (_, list) = app
        .admin(reqwest::Method::GET, "/api/v1/admin/keys", None)
        .await;
    let key = &list["keys"][0];
    assert_eq!(key["allowedIps"], json!(["10.0.0.0/8", "2001:db8::/32"]));
    assert_eq!(key["weeklyCostLimit"], 25.0);
    assert_eq!(
        (
            key["weeklyResetDay"].clone(),
            key["weeklyResetHour"].clone()
        ),
        (json!(7), json!(9))
    );
    assert_eq!(key["monthlyCostLimit"], 80.0);
    assert_eq!(key["totalCostLimit"], 500.0);
    assert_eq!(key["rateLimitCost"], 2.5);
    assert_eq!(key["modelRestrictionMode"], "allow");
    // The edit form shows them back.
    let id = key["id"].as_str().expect("id");
    let edit = page(&app, &client, &format!("/keys/{id}/edit")).await;
    assert!(edit.contains("10.0.0.0/8\n2001:db8::/32"), "{edit}");
    assert!(
        edit.contains(r#"<option value="7" selected>Sunday</option>"#),
        "{edit}"
    );
    assert!(
        edit.contains(r#"<option value="allow" selected>"#),
        "{edit}"
    );
}

#[tokio::test]
async fn the_key_form_starts_a_key_at_first_use_and_keeps_the_choice_when_edited() {
    let app = spawn().await;
    let client = browser_like();
    let csrf = sign_in(&app, &client).await;
    let post = |path: String, fields: Vec<(&'static str, &'static str)>| {
        let client = client.clone();
        let url = app.url(&path);
        let csrf = csrf.clone();
        async move {
            let mut form = vec![
                ("_csrf", csrf),
                ("name", "first-use".to_string()),
                ("permissions", "all".to_string()),
                ("isActive", "true".to_string()),
            ];
            form.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
            client.post(url).form(&form).send().await.expect("sent")
        }
    };
    // The duration is required, and named on its field.
    let refused = post(
        "/keys".into(),
        vec![("expiryPreset", "activation"), ("activationDays", "")],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.expect("html");
    assert!(html.contains(r#"id="activationDays-error""#), "{html}");
    assert!(
        html.contains(r#"<option value="activation" selected>"#),
        "the choice is kept: {html}"
    );
    let refused = post(
        "/keys".into(),
        vec![
            ("expiryPreset", "activation"),
            ("activationDays", "3"),
            ("activationUnit", "weeks"),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.expect("html");
    assert!(html.contains(r#"id="activationUnit-error""#), "{html}");
    let (_, list) = app
        .admin(reqwest::Method::GET, "/api/v1/admin/keys", None)
        .await;
    assert_eq!(list["total"], 0, "refused forms create nothing: {list}");

    let created = post(
        "/keys".into(),
        vec![
            ("expiryPreset", "activation"),
            ("activationDays", "12"),
            ("activationUnit", "hours"),
        ],
    )
    .await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let (_, list) = app
        .admin(reqwest::Method::GET, "/api/v1/admin/keys", None)
        .await;
    let key = &list["keys"][0];
    let id = key["id"].as_str().expect("id").to_string();
    assert_eq!(key["expirationMode"], "activation", "{key}");
    assert_eq!(key["activationDays"], 12);
    assert_eq!(key["activationUnit"], "hours");
    assert_eq!(key["expiresAt"], serde_json::Value::Null);
    assert_eq!(key["isActivated"], false);

    // The edit form says what "Keep" keeps; saving it with Keep changes nothing.
    let edit = page(&app, &client, &format!("/keys/{id}/edit")).await;
    assert!(
        edit.contains("Keep: starts at first use, then 12 hours"),
        "{edit}"
    );
    let saved = post(format!("/keys/{id}/edit"), vec![("expiryPreset", "keep")]).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (_, after) = app
        .admin(
            reqwest::Method::GET,
            &format!("/api/v1/admin/keys/{id}"),
            None,
        )
        .await;
    assert_eq!(after["key"]["expirationMode"], "activation", "{after}");
    assert_eq!(after["key"]["activationDays"], 12);

    // Once used, the clock has started: the form no longer offers to start it at first use.
    let (used, secret) = app
        .create_key(json!({"name": "used", "expirationMode": "activation", "activationDays": 2}))
        .await;
    let (status, _) = app.admit(&secret).await;
    assert_eq!(status, StatusCode::OK);
    let edit = page(&app, &client, &format!("/keys/{used}/edit")).await;
    assert!(!edit.contains(r#"value="activation""#), "{edit}");
    assert!(!edit.contains("starts at first use"), "{edit}");

    // A dated preset turns the key into a fixed-expiry key.
    let saved = post(format!("/keys/{id}/edit"), vec![("expiryPreset", "30")]).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (_, after) = app
        .admin(
            reqwest::Method::GET,
            &format!("/api/v1/admin/keys/{id}"),
            None,
        )
        .await;
    assert_eq!(after["key"]["expirationMode"], "fixed", "{after}");
    assert_ne!(after["key"]["expiresAt"], serde_json::Value::Null);
}

#[tokio::test]
async fn budget_bars_and_the_monthly_total_refresh_without_a_reload() {
    let app = TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", BROWSER_PASSWORD)]).await;
    let browser = crate::support::browser::Browser::start().await;
    browser.log_in(&app, BROWSER_PASSWORD).await;
    for page in ["list", "key page"] {
        let (id, _) = app
            .create_key(json!({"name": format!("live-{page}"), "weeklyCostLimit": 0.0111}))
            .await;
        let path = match page {
            "list" => format!("/keys?q=live-{page}"),
            _ => format!("/keys/{id}"),
        };
        browser.goto(&app, &path).await;
        let bar = r#"[data-budget="This week"] [data-part="text"]"#;
        assert_eq!(browser.text(bar).await, "0%", "{path}");
        // $0.010002 of $0.0111: past 80 %, so the bar turns amber and says so.
        let (status, _) = app
            .record_usage(json!({"keyId": id, "model": "claude-sonnet-4-5",
                                 "usage": {"input_tokens": 3334, "output_tokens": 0}}))
            .await;
        assert_eq!(status, StatusCode::OK);
        let text = browser.wait_for_text(bar, |t| t != "0%").await;
        assert!(
            text.contains("near the limit") || text.contains("limit reached"),
            "{path}: {text}"
        );
        let level = browser
            .run(r#"return document.querySelector('[data-budget="This week"]').className"#)
            .await;
        assert!(
            level
                .as_str()
                .is_some_and(|c| c.contains("budget-warn") || c.contains("budget-full")),
            "{path}: {level}"
        );
    }
    // The key page's month total follows too.
    let month = browser
        .wait_for_text(r#"[data-field="monthlyCost"]"#, |t| t != "$0.00")
        .await;
    assert!(month.starts_with('$'), "{month}");
    browser.close().await;
}

const BROWSER_PASSWORD: &str = "budget-bars-password-1";

#[tokio::test]
async fn an_account_page_counts_every_bound_key_and_says_when_it_lists_only_the_first() {
    let app = spawn().await;
    let client = browser_like();
    sign_in(&app, &client).await;
    let (status, _) = app
        .admin(
            reqwest::Method::POST,
            "/api/v1/admin/keys/batch",
            Some(json!({"count": 230, "namePrefix": "pooled", "claudeAccountId": "acct-big"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let html = page(&app, &client, "/accounts/acct-big").await;
    assert!(
        html.contains(
            r#"<span class="stat-label">Bound keys</span><span class="stat-value">230</span>"#
        ),
        "{html}"
    );
    assert!(
        html.contains("Showing the first 200 of 230 bound keys."),
        "{html}"
    );
    assert_eq!(html.matches(r#"<td data-label="Key">"#).count(), 200);
}
