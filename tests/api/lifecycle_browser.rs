//! The key lifecycle pages in real headless Chromium: the deleted view with restore and delete
//! forever, regenerating a secret (shown once), the key hint and the search by whole key.

use reqwest::Method;
use serde_json::json;

use crate::dashboard::PASSWORD;
use crate::support::browser::Browser;
use crate::support::TestApp;

async fn verify_code(app: &TestApp, secret: &str) -> String {
    let (_, body) = app.verify(json!({"key": secret})).await;
    body["error"]["code"].as_str().unwrap_or("ok").to_string()
}

#[tokio::test]
async fn delete_restore_and_delete_forever_from_the_deleted_view() {
    let app = TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]).await;
    let browser = Browser::start().await;
    let (id, secret) = app.create_key(json!({"name": "round-trip"})).await;
    let usage = json!({"keyId": id, "model": "claude-sonnet-4-5", "usage": {"input_tokens": 5, "output_tokens": 5}});
    assert_eq!(app.record_usage(usage).await.0, reqwest::StatusCode::OK);
    browser.log_in(&app, PASSWORD).await;
    let row = format!("tr[data-key-id='{id}']");

    browser.click(&format!("{row} a[href$='/delete']")).await;
    browser.wait_for_path(|p| p.ends_with("/delete")).await;
    browser.click("button.button-danger").await;
    browser.wait_for_path(|p| p == "/keys").await;
    assert!(browser.text(".flash").await.contains("restored"));
    assert!(!browser.exists(&row).await);
    assert_eq!(verify_code(&app, &secret).await, "not_found");

    browser.goto(&app, "/keys?status=deleted").await;
    browser
        .wait_for_text(&format!("{row} .badge"), |t| t == "deleted")
        .await;
    browser.screenshot("keys-deleted").await;
    browser
        .click(&format!("{row} form[action$='/restore'] button"))
        .await;
    browser.wait_for_path(|p| p == format!("/keys/{id}")).await;
    assert!(browser.text(".flash").await.contains("Restored"));
    assert_eq!(verify_code(&app, &secret).await, "ok");
    assert_eq!(app.get_key(&id).await["usage"]["total"]["requests"], 1);

    let (status, _) = app
        .admin(Method::DELETE, &format!("/api/v1/admin/keys/{id}"), None)
        .await;
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    browser.goto(&app, "/keys?status=deleted").await;
    browser.click(&format!("{row} a[href$='/erase']")).await;
    browser.wait_for_path(|p| p.ends_with("/erase")).await;
    assert!(browser.text("h1").await.contains("forever"));
    browser.click("button.button-danger").await;
    browser.wait_for_path(|p| p == "/keys?status=deleted").await;
    assert!(browser.text(".flash").await.contains("Erased"));
    assert_eq!(
        app.admin(Method::GET, &format!("/api/v1/admin/keys/{id}"), None)
            .await
            .0,
        reqwest::StatusCode::NOT_FOUND
    );
    browser.close().await;
}

#[tokio::test]
async fn regenerate_shows_the_new_secret_once_and_the_old_one_keeps_working() {
    let app = TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]).await;
    let browser = Browser::start().await;
    let (_, _) = app.create_key(json!({"name": "decoy"})).await;
    let (id, old) = app.create_key(json!({"name": "rolled"})).await;
    browser.log_in(&app, PASSWORD).await;

    // A whole key pasted in the search box finds its key by hash.
    browser.fill("#q", &old).await;
    browser.click("#key-filters button[type=submit]").await;
    browser
        .wait_for_text("[data-testid=list-range]", |t| t.contains('1'))
        .await;
    assert!(browser.exists(&format!("tr[data-key-id='{id}']")).await);
    assert_eq!(
        browser.text(".key-hint").await,
        format!("cr_{}…{}", &old[3..7], &old[old.len() - 4..])
    );

    browser.goto(&app, &format!("/keys/{id}")).await;
    browser.click("form.regenerate button[type=submit]").await;
    browser.wait_for_path(|p| p.ends_with("/regenerated")).await;
    let new = browser.text("[data-testid=new-key-secret]").await;
    assert!(new.starts_with("cr_") && new != old);
    browser.screenshot("key-regenerated").await;
    assert_eq!(verify_code(&app, &new).await, "ok");
    assert_eq!(verify_code(&app, &old).await, "ok");
    browser.goto(&app, &format!("/keys/{id}/regenerated")).await;
    browser.wait_for_path(|p| p == format!("/keys/{id}")).await;
    assert!(browser.text(".flash").await.contains("shown once"));
    assert!(browser
        .text("[data-testid=old-secret-until]")
        .await
        .contains("old secret valid until"));
    browser.close().await;
}

async fn bulk(browser: &Browser, app: &TestApp, ids: &[&str], action: &str, tag: &str) -> String {
    browser.goto(app, "/keys").await;
    for id in ids {
        browser
            .click(&format!("tr[data-key-id='{id}'] input[name=ids]"))
            .await;
    }
    browser
        .run(&format!(
            "document.getElementById('bulk-action').value = '{action}'; return true"
        ))
        .await;
    browser.fill("#bulk-tag", tag).await;
    browser.click("[data-testid=bulk-apply]").await;
    browser.wait_for_path(|p| p == "/keys/bulk").await;
    let question = browser.text("[data-testid=bulk-question]").await;
    browser.click("[data-testid=bulk-confirm]").await;
    browser.wait_for_path(|p| p == "/keys").await;
    question
}

#[tokio::test]
async fn bulk_actions_from_the_list_confirm_how_many_keys() {
    let app = TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]).await;
    let browser = Browser::start().await;
    let (status, body) = app
        .admin(
            Method::POST,
            "/api/v1/admin/keys/batch",
            Some(json!({"count": 4, "namePrefix": "bulk"})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let ids: Vec<String> = body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["key"]["id"].as_str().expect("id").to_string())
        .collect();
    let secrets: Vec<String> = body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["apiKey"].as_str().expect("secret").to_string())
        .collect();
    browser.log_in(&app, PASSWORD).await;

    // Select all on this page, then disable: the confirmation names all four.
    browser.goto(&app, "/keys").await;
    browser.click("input[data-select-all]").await;
    browser
        .run("document.getElementById('bulk-action').value = 'disable'; return true")
        .await;
    browser.click("[data-testid=bulk-apply]").await;
    browser.wait_for_path(|p| p == "/keys/bulk").await;
    assert_eq!(
        browser.text("[data-testid=bulk-question]").await,
        "Disable 4 keys?"
    );
    browser.click("[data-testid=bulk-confirm]").await;
    browser.wait_for_path(|p| p == "/keys").await;
    assert!(browser.text(".flash").await.contains("Disabled 4 keys"));
    for secret in &secrets {
        assert_eq!(verify_code(&app, secret).await, "disabled");
    }

    let two = [ids[0].as_str(), ids[1].as_str()];
    assert_eq!(
        bulk(&browser, &app, &two, "enable", "").await,
        "Enable 2 keys?"
    );
    assert_eq!(verify_code(&app, &secrets[0]).await, "ok");
    assert_eq!(verify_code(&app, &secrets[2]).await, "disabled");
    assert_eq!(
        bulk(&browser, &app, &two, "add-tag", "vip").await,
        "Add the tag “vip” to 2 keys?"
    );
    assert_eq!(app.get_key(&ids[0]).await["tags"], json!(["vip"]));
    assert_eq!(app.get_key(&ids[2]).await["tags"], json!([]));
    assert_eq!(
        bulk(&browser, &app, &[two[0]], "remove-tag", "vip").await,
        "Remove the tag “vip” from 1 key?"
    );
    assert_eq!(app.get_key(&ids[0]).await["tags"], json!([]));
    assert_eq!(app.get_key(&ids[1]).await["tags"], json!(["vip"]));
    assert_eq!(
        bulk(
            &browser,
            &app,
            &[ids[2].as_str(), ids[3].as_str()],
            "delete",
            ""
        )
        .await,
        "Delete 2 keys?"
    );
    assert_eq!(app.get_key(&ids[2]).await["status"], "deleted");
    assert_eq!(app.get_key(&ids[3]).await["status"], "deleted");
    assert_eq!(app.get_key(&ids[0]).await["status"], "active");

    // Nothing selected: nothing happens, and the list says why.
    browser.goto(&app, "/keys").await;
    browser.click("[data-testid=bulk-apply]").await;
    browser
        .wait_for_text(".flash", |t| t.contains("Select at least one key"))
        .await;
    browser.close().await;
}

#[tokio::test]
async fn batch_create_shows_every_secret_once_with_copy_all_and_a_csv() {
    let app = TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]).await;
    let browser = Browser::start().await;
    browser.log_in(&app, PASSWORD).await;
    browser.goto(&app, "/keys/batch").await;
    browser.fill("#count", "0").await;
    browser.fill("#namePrefix", "shop").await;
    browser.click("form.batch-form button[type=submit]").await;
    browser
        .wait_for_text("#error-summary", |t| t.contains("count"))
        .await;
    assert_eq!(app.key_total().await, 0);

    browser.fill("#count", "3").await;
    browser.fill("#concurrencyLimit", "2").await;
    browser.click("form.batch-form button[type=submit]").await;
    browser.wait_for_path(|p| p == "/keys/batch/created").await;
    let secrets: Vec<String> = serde_json::from_value(
        browser
            .run("return [...document.querySelectorAll('[data-testid=batch-secret]')].map(e => e.textContent)")
            .await,
    )
    .expect("secrets");
    assert_eq!(secrets.len(), 3);
    for secret in &secrets {
        assert_eq!(verify_code(&app, secret).await, "ok");
    }
    browser.click("[data-csv-from]").await;
    let csv = browser.run("return window.keywardLastCsv").await;
    let csv = csv.as_str().expect("csv built");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "name,id,apiKey");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("shop-001,") && lines[1].ends_with(&secrets[0]));
    let (_, listed) = app
        .admin(Method::GET, "/api/v1/admin/keys?q=shop", None)
        .await;
    assert_eq!(listed["total"], 3);
    assert!(listed["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .all(|k| k["concurrencyLimit"] == 2));

    // Shown once: a reload says so instead.
    browser.goto(&app, "/keys/batch/created").await;
    browser.wait_for_path(|p| p == "/keys").await;
    assert!(browser.text(".flash").await.contains("shown once"));
    let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    crate::lifecycle::assert_no_secret_stored(&app, &secret_refs);
    browser.close().await;
}
