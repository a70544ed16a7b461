//! `/admins` and `/account/password`: adding admins with a one-time password, the last-admin
//! rule (also under parallel demotions), disabling, and password changes ending other sessions.

use reqwest::StatusCode;

use crate::dashboard::{csrf_of, sign_in, spawn, PASSWORD};
use crate::roles::{add_admin, signed_in};
use crate::support::TestApp;

async fn post_form(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .expect("sent")
}

async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let response = client.get(app.url(path)).send().await.expect("sent");
    let status = response.status();
    (status, response.text().await.expect("html"))
}

fn role_of(app: &TestApp, username: &str) -> String {
    app.redis
        .cli(&["HGET", &format!("kw:admin:{username}"), "role"])
        .trim()
        .to_string()
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_disabled_or_removed() {
    let app = spawn().await;
    let client = crate::dashboard::browser_like();
    let csrf = sign_in(&app, &client).await;
    for (path, extra) in [
        ("/admins/role", ("role", "operator")),
        ("/admins/active", ("disabled", "true")),
        ("/admins/delete", ("x", "y")),
    ] {
        let response = post_form(
            &app,
            &client,
            path,
            &[("_csrf", &csrf), ("username", "admin"), extra],
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let (_, html) = page(&app, &client, "/admins").await;
        assert!(html.contains("is the last active admin"), "{path}: {html}");
        assert_eq!(role_of(&app, "admin"), "admin");
    }
    // Still signed in and still an admin.
    assert_eq!(page(&app, &client, "/admins").await.0, StatusCode::OK);
    assert_eq!(
        app.redis
            .cli(&["HGET", "kw:admin:admin", "disabled"])
            .trim(),
        ""
    );
}

#[tokio::test]
async fn an_added_admin_gets_a_password_shown_once_and_the_role_chosen() {
    let app = spawn().await;
    let client = crate::dashboard::browser_like();
    let csrf = sign_in(&app, &client).await;
    let response = post_form(
        &app,
        &client,
        "/admins",
        &[("_csrf", &csrf), ("username", "nina"), ("role", "viewer")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, html) = page(&app, &client, "/admins/created").await;
    assert_eq!(status, StatusCode::OK);
    let marker = r#"data-testid="new-admin-password" class="secret">"#;
    let start = html.find(marker).expect("password shown") + marker.len();
    let password = html[start..start + 24].to_string();
    // Shown once: the second visit goes back to the list.
    let again = client
        .get(app.url("/admins/created"))
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(role_of(&app, "nina"), "viewer");
    let (nina, _) = signed_in(&app, "nina", &password).await;
    assert_eq!(page(&app, &nina, "/keys").await.0, StatusCode::OK);
    assert_eq!(page(&app, &nina, "/admins").await.0, StatusCode::FORBIDDEN);
    let (_, list) = page(&app, &client, "/admins").await;
    assert!(list.contains(r#"data-admin="nina""#) && list.contains(r#"data-admin="admin""#));
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = spawn().await;
    add_admin(&app, "bob", "admin", "bob-password-123");
    let alice = crate::dashboard::browser_like();
    let alice_csrf = sign_in(&app, &alice).await;
    let (bob, bob_csrf) = signed_in(&app, "bob", "bob-password-123").await;
    for round in 0..5 {
        let alice_form = [
            ("_csrf", alice_csrf.as_str()),
            ("username", "bob"),
            ("role", "viewer"),
        ];
        let bob_form = [
            ("_csrf", bob_csrf.as_str()),
            ("username", "admin"),
            ("role", "viewer"),
        ];
        let (a, b) = tokio::join!(
            post_form(&app, &alice, "/admins/role", &alice_form),
            post_form(&app, &bob, "/admins/role", &bob_form),
        );
        // Refused by the rule (303 with a message), or by the role when the other's demotion
        // landed before this request was checked (403).
        for response in [a, b] {
            assert!(
                [StatusCode::SEE_OTHER, StatusCode::FORBIDDEN].contains(&response.status()),
                "{}",
                response.status()
            );
        }
        let admins = ["admin", "bob"]
            .into_iter()
            .filter(|name| role_of(&app, name) == "admin")
            .count();
        assert_eq!(admins, 1, "round {round}");
        // Both admins again for the next round, through the CLI-free path: the one left
        // promotes the other.
        let (winner, csrf, loser) = if role_of(&app, "admin") == "admin" {
            (&alice, &alice_csrf, "bob")
        } else {
            (&bob, &bob_csrf, "admin")
        };
        post_form(
            &app,
            winner,
            "/admins/role",
            &[("_csrf", csrf), ("username", loser), ("role", "admin")],
        )
        .await;
        assert_eq!(role_of(&app, loser), "admin");
    }
}

#[tokio::test]
async fn a_disabled_admin_is_signed_out_and_cannot_sign_in() {
    let app = spawn().await;
    add_admin(&app, "vera", "viewer", "viewer-password-1");
    let (vera, _) = signed_in(&app, "vera", "viewer-password-1").await;
    let admin = crate::dashboard::browser_like();
    let csrf = sign_in(&app, &admin).await;
    let response = post_form(
        &app,
        &admin,
        "/admins/active",
        &[("_csrf", &csrf), ("username", "vera"), ("disabled", "true")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(page(&app, &vera, "/keys").await.0, StatusCode::SEE_OTHER);
    let fresh = crate::dashboard::browser_like();
    let (_, login) = page(&app, &fresh, "/login").await;
    let refused = post_form(
        &app,
        &fresh,
        "/login",
        &[
            ("_csrf", &csrf_of(&login)),
            ("username", "vera"),
            ("password", "viewer-password-1"),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // Removing her ends her record.
    post_form(
        &app,
        &admin,
        "/admins/delete",
        &[("_csrf", &csrf), ("username", "vera")],
    )
    .await;
    assert_eq!(app.redis.cli(&["EXISTS", "kw:admin:vera"]).trim(), "0");
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_keeps_this_one() {
    let app = spawn().await;
    let here = crate::dashboard::browser_like();
    let elsewhere = crate::dashboard::browser_like();
    let csrf = sign_in(&app, &here).await;
    sign_in(&app, &elsewhere).await;
    let new_password = "a-brand-new-password";
    for (current, new, again, why) in [
        ("wrong-password-1", new_password, new_password, "is wrong"),
        (PASSWORD, "short", "short", "at least 12"),
        (PASSWORD, new_password, "another-password-x", "differ"),
    ] {
        let response = post_form(
            &app,
            &here,
            "/account/password",
            &[
                ("_csrf", &csrf),
                ("currentPassword", current),
                ("newPassword", new),
                ("newPasswordAgain", again),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        assert!(response.text().await.expect("html").contains(why), "{why}");
    }
    assert_eq!(page(&app, &elsewhere, "/keys").await.0, StatusCode::OK);
    let response = post_form(
        &app,
        &here,
        "/account/password",
        &[
            ("_csrf", &csrf),
            ("currentPassword", PASSWORD),
            ("newPassword", new_password),
            ("newPasswordAgain", new_password),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, html) = page(&app, &here, "/account/password").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Password changed"));
    assert_eq!(
        page(&app, &elsewhere, "/keys").await.0,
        StatusCode::SEE_OTHER
    );
    signed_in(&app, "admin", new_password).await;
}
