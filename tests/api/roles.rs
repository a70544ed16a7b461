//! Admin roles: every declared route refuses the roles below its own (walked from the router's
//! own route table, so a new route cannot skip the check), the admin token keeps every right,
//! and `keyward admin add` creates admins with a role.

use std::io::Write;
use std::process::Stdio;

use keyward::domain::role::AdminRole;
use keyward::web::{route_table, Access};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::dashboard::{browser_like, csrf_of, spawn};
use crate::support::app::{keyward_command, ADMIN_TOKEN};
use crate::support::TestApp;

/// Adds an admin through the CLI with a password from standard input.
pub fn add_admin(app: &TestApp, username: &str, role: &str, password: &str) {
    let mut child = keyward_command(&app.redis.url(), app.data_dir.path(), &[])
        .args([
            "admin",
            "add",
            "--username",
            username,
            "--role",
            role,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keyward runs");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("password written");
    let output = child.wait_with_output().expect("keyward ends");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Signs `username` in with a fresh client; returns the client and the session's CSRF token.
pub async fn signed_in(app: &TestApp, username: &str, password: &str) -> (reqwest::Client, String) {
    let client = browser_like();
    let login = client
        .get(app.url("/login"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    let form = [
        ("_csrf", csrf_of(&login)),
        ("username", username.to_string()),
        ("password", password.to_string()),
    ];
    let response = client
        .post(app.url("/login"))
        .form(&form)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{username}");
    let page = client
        .get(app.url("/logout"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    (client, csrf_of(&page))
}

fn concrete(path: &str, key_id: &str) -> String {
    path.replace("{id}", key_id).replace("{account}", "acct-1")
}

/// Sends `method path` as a signed-in admin, with the session's CSRF token both as a form field
/// and as the API's header, so only the role can be what refuses it.
async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    csrf: &str,
    method: &Method,
    path: &str,
    api: bool,
) -> StatusCode {
    let mut request = client
        .request(method.clone(), app.url(path))
        .header("x-csrf-token", csrf);
    if *method != Method::GET {
        request = if api {
            request.json(&json!({"name": "changed"}))
        } else {
            request.form(&[("_csrf", csrf), ("name", "changed")])
        };
    }
    request.send().await.expect("sent").status()
}

#[tokio::test]
async fn every_route_refuses_the_roles_below_its_own() {
    let app = spawn().await;
    let (key_id, _) = app.create_key(json!({"name": "walked"})).await;
    add_admin(&app, "vera", "viewer", "viewer-password-1");
    add_admin(&app, "otto", "operator", "operator-password-1");
    let table = route_table();
    assert!(table.len() >= 20, "the table lists every route: {table:?}");
    let mut refused = 0;
    for (username, password, role) in [
        ("vera", "viewer-password-1", AdminRole::Viewer),
        ("otto", "operator-password-1", AdminRole::Operator),
    ] {
        let (client, csrf) = signed_in(&app, username, password).await;
        for (method, path, access) in &table {
            let api = matches!(access, Access::Api(_));
            let Some(required) = access.role() else {
                continue;
            };
            // Signing out is every role's right; sending it would end the walk's session.
            if *path == "/logout" && *method == Method::POST {
                continue;
            }
            let status = send(&app, &client, &csrf, method, &concrete(path, &key_id), api).await;
            if role.allows(required) {
                assert_ne!(status, StatusCode::FORBIDDEN, "{username} {method} {path}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{username} {method} {path}");
                refused += 1;
            }
        }
        // The key list shows a viewer no buttons it could not use.
        let keys = client
            .get(app.url("/keys"))
            .send()
            .await
            .expect("sent")
            .text()
            .await
            .expect("html");
        assert_eq!(
            keys.contains("/keys/new"),
            role.allows(AdminRole::Operator),
            "{username}"
        );
        if role == AdminRole::Viewer {
            // The key survived every write the viewer sent.
            let key = app.get_key(&key_id).await;
            assert_eq!(
                (key["name"].as_str(), key["isActive"].as_bool()),
                (Some("walked"), Some(true))
            );
        }
    }
    assert!(refused > 0, "some route was refused");
}

#[tokio::test]
async fn the_admin_token_keeps_every_right_on_the_api() {
    let app = spawn().await;
    let (key_id, _) = app.create_key(json!({"name": "token"})).await;
    for (method, path, access) in route_table() {
        if !matches!(access, Access::Api(_)) || method != Method::GET {
            continue;
        }
        let response = app
            .http
            .get(app.url(&concrete(path, &key_id)))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // Keys created by a signed-in operator through the API name the operator.
    add_admin(&app, "otto", "operator", "operator-password-1");
    let (client, csrf) = signed_in(&app, "otto", "operator-password-1").await;
    let created: serde_json::Value = client
        .post(app.url("/api/v1/admin/keys"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "by-otto"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(created["key"]["createdBy"], "otto");
}

#[tokio::test]
async fn cli_adds_admins_with_a_role_and_refuses_to_reset_unknown_ones() {
    let app = spawn().await;
    let output = keyward_command(&app.redis.url(), app.data_dir.path(), &[])
        .args(["admin", "add", "--username", "gen", "--role", "operator"])
        .stdin(Stdio::null())
        .output()
        .expect("keyward runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let password = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Dashboard password for `gen`: "))
        .expect("generated password printed")
        .to_string();
    assert_eq!(
        app.redis.cli(&["HGET", "kw:admin:gen", "role"]).trim(),
        "operator"
    );
    let (client, _) = signed_in(&app, "gen", &password).await;
    let response = client.get(app.url("/keys/new")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);

    let again = keyward_command(&app.redis.url(), app.data_dir.path(), &[])
        .args(["admin", "add", "--username", "gen", "--role", "admin"])
        .stdin(Stdio::null())
        .output()
        .expect("keyward runs");
    assert!(!again.status.success());
    assert_eq!(
        app.redis.cli(&["HGET", "kw:admin:gen", "role"]).trim(),
        "operator"
    );
    let bad_role = keyward_command(&app.redis.url(), app.data_dir.path(), &[])
        .args(["admin", "add", "--username", "x", "--role", "root"])
        .stdin(Stdio::null())
        .output()
        .expect("keyward runs");
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("--role"));

    let reset = keyward_command(&app.redis.url(), app.data_dir.path(), &[])
        .args(["admin", "reset-password", "--username", "nobody"])
        .stdin(Stdio::null())
        .output()
        .expect("keyward runs");
    assert!(!reset.status.success());
    assert!(String::from_utf8_lossy(&reset.stderr).contains("admin add"));
    assert_eq!(app.redis.cli(&["EXISTS", "kw:admin:nobody"]).trim(), "0");
}
