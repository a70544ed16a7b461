//! The audit log: an entry for every admin write and sign-in, with actor, address and the
//! changed fields before and after; filters and paging; never a secret.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::dashboard::PASSWORD;
use crate::lifecycle::assert_no_secret_stored;
use crate::support::browser::Browser;
use crate::support::TestApp;

async fn audit(app: &TestApp, query: &str) -> Value {
    let (status, body) = app
        .admin(Method::GET, &format!("/api/v1/admin/audit{query}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

fn actions(body: &Value) -> Vec<String> {
    body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_string())
        .collect()
}

#[tokio::test]
async fn every_admin_api_write_is_recorded_with_its_changes_and_no_secret() {
    let app = TestApp::spawn().await;
    let (id, first_secret) = app
        .create_key(json!({"name": "audited", "concurrencyLimit": 1, "tags": ["a"]}))
        .await;
    let path = format!("/api/v1/admin/keys/{id}");
    let (status, _) = app
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"concurrencyLimit": 5, "tags": ["a", "b"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, regenerated) = app
        .admin(
            Method::POST,
            &format!("{path}/regenerate"),
            Some(json!({"graceSeconds": 60})),
        )
        .await;
    let second_secret = regenerated["apiKey"].as_str().expect("secret").to_string();
    assert_eq!(
        app.admin(Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.admin(Method::POST, &format!("{path}/restore"), None)
            .await
            .0,
        StatusCode::OK
    );
    let (_, batch) = app
        .admin(
            Method::POST,
            "/api/v1/admin/keys/batch",
            Some(json!({"count": 2, "namePrefix": "bulk"})),
        )
        .await;
    let batch_ids: Vec<String> = batch["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["key"]["id"].as_str().expect("id").to_string())
        .collect();
    let batch_secrets: Vec<String> = batch["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["apiKey"].as_str().expect("secret").to_string())
        .collect();
    let (status, _) = app
        .admin(
            Method::PATCH,
            "/api/v1/admin/keys/batch",
            Some(json!({"ids": batch_ids, "changes": {"isActive": false}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .admin(
            Method::POST,
            "/api/v1/admin/keys/batch-delete",
            Some(json!({"ids": batch_ids})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .admin(Method::POST, "/api/v1/admin/keys/disable-expired", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.admin(
            Method::DELETE,
            &format!("/api/v1/admin/keys/{}?permanent=true", batch_ids[0]),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );

    let history = audit(&app, &format!("?keyId={id}")).await;
    assert_eq!(
        actions(&history),
        ["restore", "delete", "regenerate", "update", "create"]
    );
    let entries = history["entries"].as_array().expect("entries");
    for entry in entries {
        assert_eq!(entry["actor"], "admin-api");
        assert_eq!(entry["actorIp"], "127.0.0.1");
        assert_eq!(entry["keyId"], id.as_str());
        assert!(entry["id"].is_string() && entry["at"].is_string());
    }
    let update = &entries[3]["changes"];
    assert_eq!(update["concurrencyLimit"], json!([1, 5]));
    assert_eq!(update["tags"], json!([["a"], ["a", "b"]]));
    assert!(update.get("updatedAt").is_none() && update.get("keyHint").is_none());
    assert_eq!(entries[4]["changes"]["name"], json!([null, "audited"]));
    assert_eq!(
        entries[1]["changes"]["status"],
        json!(["active", "deleted"])
    );
    assert_eq!(
        entries[0]["changes"]["status"],
        json!(["deleted", "active"])
    );
    assert_eq!(entries[2]["changes"]["graceSeconds"], json!([null, 60]));

    let bulk = audit(&app, &format!("?keyId={}", batch_ids[0])).await;
    assert_eq!(
        actions(&bulk),
        ["erase", "batch-delete", "batch-update", "batch-create"]
    );
    assert_eq!(
        bulk["entries"][2]["changes"]["isActive"],
        json!([true, false])
    );
    assert_eq!(
        actions(&audit(&app, "?action=disable-expired").await),
        ["disable-expired"]
    );
    assert_eq!(
        audit(&app, "?action=batch-create").await["entries"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert!(actions(&audit(&app, "?actor=someone-else").await).is_empty());

    // Paging: newest first, `next` continues where the page ended, no entry twice.
    let everything = actions(&audit(&app, "?limit=500").await);
    assert_eq!(everything.len(), 13);
    let mut paged = Vec::new();
    let mut query = "?limit=4".to_string();
    loop {
        let page = audit(&app, &query).await;
        paged.extend(actions(&page));
        match page["next"].as_str() {
            Some(next) => query = format!("?limit=4&before={next}"),
            None => break,
        }
    }
    assert_eq!(paged, everything);
    for bad in [
        "?limit=0",
        "?limit=501",
        "?before=abc",
        "?keyId=nope",
        "?colour=red",
    ] {
        let (status, _) = app
            .admin(Method::GET, &format!("/api/v1/admin/audit{bad}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let mut secrets = vec![first_secret.as_str(), second_secret.as_str()];
    secrets.extend(batch_secrets.iter().map(String::as_str));
    assert_no_secret_stored(&app, &secrets);
}

#[tokio::test]
async fn sign_ins_and_dashboard_changes_are_recorded_and_shown_on_the_audit_page() {
    let app = TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]).await;
    let browser = Browser::start().await;
    browser.goto(&app, "/login").await;
    browser.fill("#username", "admin").await;
    browser.fill("#password", "not-the-password").await;
    browser.click("form.login-card button[type=submit]").await;
    browser
        .wait_for_text(".flash-error", |t| t.contains("Wrong"))
        .await;
    browser.log_in(&app, PASSWORD).await;
    let (id, _) = app.create_key(json!({"name": "from-api"})).await;
    browser.goto(&app, &format!("/keys/{id}")).await;
    browser
        .click("form[action$='/active'] button[type=submit]")
        .await;
    browser.wait_for_text(".badge", |t| t == "disabled").await;

    let signins = audit(&app, "?actor=admin").await;
    assert_eq!(actions(&signins), ["update", "sign-in", "sign-in-failed"]);
    assert_eq!(
        signins["entries"][0]["changes"]["isActive"],
        json!([true, false])
    );
    assert_eq!(signins["entries"][2]["actorIp"], "127.0.0.1");

    browser.click("a[href^='/audit?keyId=']").await;
    browser
        .wait_for_path(|p| p.starts_with("/audit?keyId="))
        .await;
    let rows = browser
        .run("return [...document.querySelectorAll('tr.audit-entry')].map(r => r.textContent)")
        .await;
    let rows: Vec<String> = serde_json::from_value(rows).expect("rows");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0].contains("update") && rows[0].contains("isActive: true → false"));
    assert!(rows[1].contains("create") && rows[1].contains("admin-api"));
    browser.goto(&app, "/audit?action=sign-in-failed").await;
    browser
        .wait_for_path(|p| p == "/audit?action=sign-in-failed")
        .await;
    assert_eq!(
        browser
            .run("return document.querySelectorAll('tr.audit-entry').length")
            .await,
        json!(1)
    );
    browser.close().await;
}

#[tokio::test]
async fn api_calls_by_a_signed_in_admin_name_that_admin_and_the_token_names_admin_api() {
    let app = crate::dashboard::spawn().await;
    crate::roles::add_admin(&app, "otto", "operator", "operator-password-1");
    let (client, csrf) = crate::roles::signed_in(&app, "otto", "operator-password-1").await;
    let (id, _) = app.create_key(json!({"name": "by-token"})).await;
    let response = client
        .patch(app.url(&format!("/api/v1/admin/keys/{id}")))
        .header("x-csrf-token", &csrf)
        .json(&json!({"concurrencyLimit": 3}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body = audit(&app, &format!("?keyId={id}")).await;
    let by_action = |action: &str| {
        body["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action} recorded: {body}"))["actor"]
            .clone()
    };
    assert_eq!(by_action("update"), "otto");
    assert_eq!(by_action("create"), "admin-api");
}

#[tokio::test]
async fn extending_and_releasing_leases_are_recorded() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(
            json!({"name": "tools", "concurrencyLimit": 2, "expiresAt": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/keys/{id}/extend"),
            Some(json!({"days": 7})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, released) = app
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/keys/{id}/leases"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{released}");
    let body = audit(&app, &format!("?keyId={id}")).await;
    let entries = body["entries"].as_array().expect("entries");
    let extend = entries
        .iter()
        .find(|e| e["action"] == "extend")
        .unwrap_or_else(|| panic!("extend recorded: {body}"));
    assert_eq!(extend["actor"], "admin-api");
    assert!(
        extend["changes"]["expiresAt"].is_array(),
        "the new expiry is recorded: {extend}"
    );
    let release = entries
        .iter()
        .find(|e| e["action"] == "release-leases")
        .unwrap_or_else(|| panic!("release recorded: {body}"));
    assert_eq!(
        release["changes"]["releasedLeases"][1],
        released["released"]
    );
}

/// Keys of the previous release kept their history in a stream of their own: its entries are
/// shown with the new ones, in order, and nothing is lost by the move to the new layout.
#[tokio::test]
async fn a_keys_history_from_the_previous_release_is_shown_with_the_new_entries() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "older"})).await;
    app.redis.cli(&[
        "XADD",
        &format!("kw:{{audit}}:key:{id}"),
        "1000-0",
        "actor",
        "earlier-admin",
        "action",
        "update",
        "changes",
        r#"{"tokenLimit":[0,5]}"#,
        "keyId",
        &id,
    ]);
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{id}"),
            Some(json!({"concurrencyLimit": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let history = audit(&app, &format!("?keyId={id}")).await;
    assert_eq!(actions(&history), ["update", "create", "update"]);
    let oldest = &history["entries"][2];
    assert_eq!(oldest["actor"], "earlier-admin");
    assert_eq!(oldest["changes"]["tokenLimit"], json!([0, 5]));
    // A creation shows every field, the defaults too.
    let created = &history["entries"][1]["changes"];
    assert_eq!(created["concurrencyLimit"], json!([null, 0]));
    assert_eq!(created["permissions"], json!([null, "all"]));
    // Paged one at a time, the same three.
    let mut paged = Vec::new();
    let mut query = format!("?keyId={id}&limit=1");
    loop {
        let page = audit(&app, &query).await;
        paged.extend(actions(&page));
        match page["next"].as_str() {
            Some(next) => query = format!("?keyId={id}&limit=1&before={next}"),
            None => break,
        }
    }
    assert_eq!(paged, ["update", "create", "update"]);
}

/// The previous release kept the id of each key's creation entry in a hash of the audit log's
/// own: a key it made shows its creation in its history, and keeps it when its history starts
/// (the hash then loses the key) and when it is erased.
#[tokio::test]
async fn a_creation_recorded_by_the_previous_release_stays_in_the_keys_history() {
    let app = TestApp::spawn().await;
    let (changed, _) = app
        .create_key(json!({"name": "changed later", "concurrencyLimit": 3}))
        .await;
    let (erased, _) = app.create_key(json!({"name": "erased unchanged"})).await;
    for id in [&changed, &erased] {
        crate::listing::store_as_previous_release(&app, id, 1_709_251_200_000);
    }
    let legacy = |id: &str| {
        app.redis
            .cli(&["HEXISTS", "kw:{audit}:created", id])
            .trim()
            .to_string()
    };

    let history = audit(&app, &format!("?keyId={changed}")).await;
    assert_eq!(actions(&history), ["create"]);
    assert_eq!(
        history["entries"][0]["changes"]["concurrencyLimit"],
        json!([null, 3])
    );
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{changed}"),
            Some(json!({"concurrencyLimit": 4})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let history = audit(&app, &format!("?keyId={changed}")).await;
    assert_eq!(actions(&history), ["update", "create"]);
    assert_eq!(history["entries"][1]["actor"], "admin-api");
    assert_eq!(legacy(&changed), "0");

    let path = format!("/api/v1/admin/keys/{erased}?permanent=true");
    assert_eq!(
        app.admin(Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    let history = audit(&app, &format!("?keyId={erased}")).await;
    assert_eq!(actions(&history), ["erase", "create"]);
    assert_eq!(
        history["entries"][1]["changes"]["name"],
        json!([null, "erased unchanged"])
    );
    assert_eq!(legacy(&erased), "0");
    assert_eq!(app.redis.cli(&["EXISTS", "kw:{audit}:created"]).trim(), "0");
}

/// A key erased before any change keeps its creation in its history (the record that held the
/// creation's id is gone), and the erase follows it.
#[tokio::test]
async fn an_erased_keys_history_keeps_its_creation() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "short-lived"})).await;
    assert_eq!(
        actions(&audit(&app, &format!("?keyId={id}")).await),
        ["create"]
    );
    let path = format!("/api/v1/admin/keys/{id}?permanent=true");
    assert_eq!(
        app.admin(Method::DELETE, &path, None).await.0,
        StatusCode::NO_CONTENT
    );
    let history = audit(&app, &format!("?keyId={id}")).await;
    assert_eq!(actions(&history), ["erase", "create"]);
    let created = &history["entries"][1];
    assert_eq!(created["actor"], "admin-api");
    assert_eq!(created["actorIp"], "127.0.0.1");
    assert_eq!(created["changes"]["name"], json!([null, "short-lived"]));
}
