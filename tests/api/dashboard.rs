//! The dashboard over plain HTTP: cookie flags, session rotation, CSRF, throttling, headers.

use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

use crate::support::TestApp;

pub const PASSWORD: &str = "dashboard-password-1";

/// A cookie-keeping client that does not follow redirects (so tests see them).
pub fn browser_like() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

fn csrf_of(html: &str) -> String {
    let start =
        html.find(r#"name="_csrf" value=""#).expect("csrf field") + r#"name="_csrf" value=""#.len();
    html[start..start + 64].to_string()
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("keyward_session="))
        .map(str::to_string)
}

/// Submits the sign-in form as user `admin`.
async fn post_login(
    app: &TestApp,
    client: &reqwest::Client,
    csrf: &str,
    password: &str,
) -> reqwest::Response {
    let form = [
        ("_csrf", csrf),
        ("username", "admin"),
        ("password", password),
    ];
    client
        .post(app.url("/login"))
        .form(&form)
        .send()
        .await
        .expect("sent")
}

/// Signs in; returns the CSRF token of the signed-in session.
pub async fn sign_in(app: &TestApp, client: &reqwest::Client) -> String {
    let login = client
        .get(app.url("/login"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    let response = post_login(app, client, &csrf_of(&login), PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let keys = client
        .get(app.url("/keys"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    csrf_of(&keys)
}

pub async fn spawn() -> TestApp {
    TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]).await
}

#[tokio::test]
async fn pages_redirect_to_login_without_a_session() {
    let app = spawn().await;
    let client = browser_like();
    for path in [
        "/keys",
        "/keys/new",
        "/accounts",
        "/accounts/a",
        "/keys/00000000-0000-4000-8000-000000000000",
        "/logout",
    ] {
        let response = client.get(app.url(path)).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()[LOCATION], "/login", "{path}");
    }
}

#[tokio::test]
async fn session_cookie_is_http_only_same_site_and_rotated_at_login() {
    let app = spawn().await;
    let client = browser_like();
    let response = client.get(app.url("/login")).send().await.expect("sent");
    let before = session_cookie(&response).expect("a session for the login form");
    assert!(
        before.contains("HttpOnly") && before.contains("SameSite=Lax"),
        "{before}"
    );
    assert!(!before.contains("Secure"));
    let html = response.text().await.expect("html");
    let response = post_login(&app, &client, &csrf_of(&html), PASSWORD).await;
    let after = session_cookie(&response).expect("a new session id at login");
    let id = |c: &str| c.split(';').next().unwrap_or_default().to_string();
    assert_ne!(id(&before), id(&after), "the session id changes at login");

    let secure = TestApp::spawn_with(&[
        ("KEYWARD_ADMIN_PASSWORD", PASSWORD),
        ("KEYWARD_COOKIE_SECURE", "true"),
    ])
    .await;
    let response = browser_like()
        .get(secure.url("/login"))
        .send()
        .await
        .expect("sent");
    assert!(session_cookie(&response)
        .expect("cookie")
        .contains("Secure"));
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = spawn().await;
    let client = browser_like();
    let csrf = sign_in(&app, &client).await;
    let (id, _) = app
        .create_key(serde_json::json!({"name": "target", "expiresAt": "2020-01-01T00:00:00Z"}))
        .await;
    let attempts = [
        (format!("/keys/{id}/delete"), vec![]),
        (format!("/keys/{id}/active"), vec![("isActive", "false")]),
        ("/keys".to_string(), vec![("name", "sneaky")]),
        ("/keys/disable-expired".to_string(), vec![]),
        (
            format!("/keys/{id}/edit"),
            vec![("name", "renamed"), ("_csrf", "0000")],
        ),
    ];
    for (path, form) in attempts {
        let response = client
            .post(app.url(&path))
            .form(&form)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let key = app.get_key(&id).await;
    assert_eq!(
        (key["name"].as_str(), key["isActive"].as_bool()),
        (Some("target"), Some(true))
    );
    assert_eq!(app.key_total().await, 1);
    // With the token the same action works.
    let response = client
        .post(app.url(&format!("/keys/{id}/active")))
        .form(&[("_csrf", csrf.as_str()), ("isActive", "false")])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get_key(&id).await["isActive"], false);
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled() {
    let app = spawn().await;
    let client = browser_like();
    let html = client
        .get(app.url("/login"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    let csrf = csrf_of(&html);
    let attempt = |password: &'static str| post_login(&app, &client, &csrf, password);
    for _ in 0..5 {
        let response = attempt("wrong-password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response
            .text()
            .await
            .expect("html")
            .contains("Wrong username or password"));
    }
    let response = attempt(PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(response
        .text()
        .await
        .expect("html")
        .contains("Too many failed sign-ins"));
}

#[tokio::test]
async fn a_session_survives_a_restart_and_works_on_a_second_instance() {
    let app = spawn().await;
    let client = browser_like();
    sign_in(&app, &client).await;
    // A second keyward process on the same Redis (and encryption key) accepts the session.
    let second = app.second_instance();
    let response = client.get(second.url("/keys")).send().await.expect("sent");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "signed in on the other instance too"
    );
}

#[tokio::test]
async fn dashboard_pages_show_a_503_page_when_redis_is_down() {
    let mut app = spawn().await;
    let client = browser_like();
    sign_in(&app, &client).await;
    app.redis.kill();
    let response = client.get(app.url("/keys")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let response = client.get(app.url("/login")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response
        .text()
        .await
        .expect("html")
        .contains("Storage unavailable"));
}

#[tokio::test]
async fn invalid_utf8_and_bad_queries_get_clear_errors() {
    let app = spawn().await;
    let client = browser_like();
    let csrf = sign_in(&app, &client).await;
    let body = format!("_csrf={csrf}&name=%FF%FE");
    let response = client
        .post(app.url("/keys"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        client
            .get(app.url("/keys?status=sleepy"))
            .send()
            .await
            .expect("sent")
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        client
            .get(app.url("/keys?perPage=33"))
            .send()
            .await
            .expect("sent")
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.key_total().await, 0);
}
