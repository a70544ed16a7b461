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
        list.contains("This month $0.0100 / $1.00") || list.contains("This month $0.01"),
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
