//! Honest errors: a bug answers 500 (not "storage unavailable"), and bad input names every
//! bad field at once.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn a_damaged_record_answers_500_not_storage_unavailable() {
    let app = TestApp::spawn().await;
    let (id, _) = app
        .create_key(json!({"name": "damaged", "rateLimitWindow": 5}))
        .await;
    // Redis answers fine, but with a reply no code path can read: that is a bug or damage,
    // which waiting will not fix.
    app.redis.cli(&[
        "HSET",
        &format!("kw:{{k:{id}}}:window"),
        "start",
        "not-a-number",
        "end",
        "also-not",
    ]);
    let (status, body) = app
        .admin(Method::GET, &format!("/api/v1/admin/keys/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"]["code"], "internal_error");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        !message.contains("not-a-number") && !message.contains("snapshot"),
        "details stay in the log: {message}"
    );
    // Storage itself is fine.
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_api_names_every_bad_field_and_keeps_the_first_as_field() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/admin/keys",
            Some(json!({
                "name": "",
                "concurrencyLimit": 100001,
                "tags": ["a,b"],
                "allowedClients": ["netscape"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], "invalid_input");
    assert_eq!(error["field"], "name", "the first bad field, as before");
    let fields = error["fields"].as_object().expect("a fields map");
    for field in ["name", "concurrencyLimit", "tags", "allowedClients"] {
        assert!(
            fields[field].as_str().is_some_and(|m| !m.is_empty()),
            "{field} has its message: {body}"
        );
    }
    assert_eq!(fields.len(), 4, "{body}");
    assert_eq!(error["message"], fields["name"]);
    assert_eq!(app.key_total().await, 0);

    // Rules across fields are reported together too.
    let (id, _) = app.create_key(json!({"name": "r"})).await;
    let (status, body) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{id}"),
            Some(json!({"rateLimitRequests": 3, "tokenLimit": 9, "enableClientRestriction": true})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "rateLimitRequests");
    let fields = body["error"]["fields"].as_object().expect("a fields map");
    let mut named: Vec<&str> = fields.keys().map(String::as_str).collect();
    named.sort_unstable();
    assert_eq!(named, ["allowedClients", "rateLimitRequests", "tokenLimit"]);
    assert_eq!(app.get_key(&id).await["rateLimitRequests"], 0, "unchanged");
}

#[tokio::test]
async fn an_unknown_key_is_not_found_even_when_its_changes_break_a_rule() {
    let app = TestApp::spawn().await;
    let missing = "00000000-0000-4000-8000-000000000000";
    let (status, body) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{missing}"),
            Some(json!({"rateLimitWindow": 0, "rateLimitRequests": 5, "tokenLimit": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn the_edit_form_names_every_bad_field_then_the_broken_rules() {
    let app = crate::dashboard::spawn().await;
    let client = crate::dashboard::browser_like();
    let csrf = crate::dashboard::sign_in(&app, &client).await;
    let (id, _) = app.create_key(json!({"name": "edited"})).await;
    let long_model = "m".repeat(201);
    let post = |form: Vec<(&'static str, String)>| {
        let client = client.clone();
        let url = app.url(&format!("/keys/{id}/edit"));
        async move {
            let response = client.post(url).form(&form).send().await.expect("sent");
            let status = response.status();
            (status, response.text().await.expect("html"))
        }
    };
    let base = |csrf: &str| {
        vec![
            ("_csrf", csrf.to_string()),
            ("name", "edited".to_string()),
            ("permissions", "all".to_string()),
            ("isActive", "true".to_string()),
            ("expiryPreset", "keep".to_string()),
        ]
    };

    // Every field that is wrong on its own, in one answer.
    let mut form = base(&csrf);
    form.retain(|(name, _)| *name != "name" && *name != "permissions");
    form.extend([
        ("name", String::new()),
        ("permissions", "root".to_string()),
        ("concurrencyLimit", "many".to_string()),
        ("dailyCostLimit", "lots".to_string()),
        ("claudeAccountId", "a b".to_string()),
        ("enableModelRestriction", "true".to_string()),
        ("restrictedModels", long_model),
    ]);
    let (status, html) = post(form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for field in [
        "name",
        "permissions",
        "concurrencyLimit",
        "dailyCostLimit",
        "claudeAccountId",
        "restrictedModels",
    ] {
        assert!(
            html.contains(&format!(r#"id="{field}-error""#)),
            "{field} has its message"
        );
    }

    // Fields fine on their own but wrong together: every broken rule, on its field.
    let csrf = crate::dashboard::csrf_of(&html);
    let mut form = base(&csrf);
    form.extend([
        ("rateLimitRequests", "5".to_string()),
        ("tokenLimit", "9".to_string()),
        ("enableClientRestriction", "true".to_string()),
    ]);
    let (status, html) = post(form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for field in ["rateLimitRequests", "tokenLimit", "allowedClients"] {
        assert!(
            html.contains(&format!(r#"id="{field}-error""#)),
            "{field} has its message"
        );
    }
    assert_eq!(
        app.get_key(&id).await["rateLimitRequests"],
        0,
        "nothing saved"
    );

    // A key deleted meanwhile is not found, whatever the form says.
    let csrf = crate::dashboard::csrf_of(&html);
    app.admin(Method::DELETE, &format!("/api/v1/admin/keys/{id}"), None)
        .await;
    let (status, _) = post(base(&csrf)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
