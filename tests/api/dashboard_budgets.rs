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
