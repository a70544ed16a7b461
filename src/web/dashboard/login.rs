//! Login and logout. Sign-in is throttled and its password work bounded in `AdminService`.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::flash::Flash;
use crate::domain::role::AdminRole;
use crate::domain::username::{loggable, AdminUsername};
use crate::service::SignIn;
use crate::web::access::{get, post, Access, RouteSpec};
use crate::web::audit::{admin_actor, record};
use crate::web::auth::{
    login_form_cookie, login_form_nonce, new_login_form_nonce, sign_in, sign_out, AdminForm,
    SessionAdmin,
};
use crate::web::error::{PageError, PageResult};
use crate::web::extract::FormPairs;
use crate::web::AppState;

/// What a busy sign-in page tells the browser to wait before retrying.
const BUSY_RETRY_SECS: u64 = 5;

pub fn routes() -> Vec<RouteSpec> {
    // Any signed-in admin may sign out.
    const SIGNED_IN: Access = Access::Page(AdminRole::Viewer);
    vec![
        get("/", Access::Public, route_get_root),
        get("/login", Access::Public, route_get_login),
        post("/login", Access::Public, route_post_login),
        get("/logout", SIGNED_IN, route_get_logout),
        post("/logout", SIGNED_IN, route_post_logout),
    ]
}

async fn route_get_root() -> Redirect {
    Redirect::to("/keys")
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/login.html")]
struct LoginPage {
    csrf: String,
    username: String,
    error: Option<String>,
    flashes: Vec<Flash>,
}

async fn route_get_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
) -> PageResult {
    // Only reads: for a visitor without a session this stores nothing.
    let flashes = Flash::take_all(&session).await?;
    // An existing nonce is kept, so sign-in forms open in several tabs all stay valid.
    let nonce = login_form_nonce(&headers).unwrap_or_else(new_login_form_nonce);
    let mut response = LoginPage {
        csrf: state.admins.sign_in_form_token(&nonce),
        username: String::new(),
        error: None,
        flashes,
    }
    .into_response();
    set_login_form_cookie(&mut response, Some(&nonce), state.config.cookie_secure);
    Ok(response)
}

fn set_login_form_cookie(response: &mut Response, nonce: Option<&str>, secure: bool) {
    if let Some(cookie) = login_form_cookie(nonce, secure) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
}

/// The sign-in form again, with what went wrong.
fn login_page_with_error(
    status: StatusCode,
    csrf: &str,
    username: &str,
    error: String,
) -> Response {
    let page = LoginPage {
        csrf: csrf.to_string(),
        username: username.to_string(),
        error: Some(error),
        flashes: Vec::new(),
    };
    (status, page).into_response()
}

async fn route_post_login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    session: Session,
    form: FormPairs,
) -> PageResult {
    // The signed double-submit check needs no storage, so a forged form costs nothing.
    let csrf = form.get("_csrf").unwrap_or("");
    let form_is_ours = login_form_nonce(&headers)
        .is_some_and(|nonce| state.admins.sign_in_form_token_matches(&nonce, csrf));
    if !form_is_ours {
        return Err(PageError::Forbidden(
            "The sign-in form expired. Reload the page and sign in again.",
        ));
    }
    let typed_username = form.get("username").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    let username = match AdminUsername::parse(typed_username) {
        Ok(username) => username,
        Err(message) => {
            tracing::warn!(username = %loggable(typed_username), client = %peer.ip(), "sign-in refused: not a valid username");
            return Ok(login_page_with_error(
                StatusCode::BAD_REQUEST,
                csrf,
                "",
                message.to_string(),
            ));
        }
    };
    let retry_after = |secs: u64| (header::RETRY_AFTER, HeaderValue::from(secs));
    match state.admins.sign_in(&username, password, peer.ip()).await? {
        SignIn::Accepted { session_epoch } => {
            sign_in(&session, &username, session_epoch).await?;
            tracing::info!(?username, client = %peer.ip(), "dashboard sign-in");
            let actor = admin_actor(username.as_str(), peer);
            record(&state, &actor, "sign-in", None, Default::default()).await;
            let mut response = Redirect::to("/keys").into_response();
            set_login_form_cookie(&mut response, None, state.config.cookie_secure);
            Ok(response)
        }
        SignIn::Throttled { retry_secs } => {
            tracing::warn!(?username, client = %peer.ip(), "dashboard sign-in throttled");
            let wait = super::format::plural(retry_secs.div_ceil(60).max(1), "minute", "minutes");
            let message = format!("Too many failed sign-ins. Try again in {wait}.");
            let page = login_page_with_error(
                StatusCode::TOO_MANY_REQUESTS,
                csrf,
                username.as_str(),
                message,
            );
            Ok(([retry_after(retry_secs)], page).into_response())
        }
        SignIn::Busy => {
            tracing::warn!(?username, client = %peer.ip(), "dashboard sign-in refused: password hashing busy");
            let message = "Sign-in is busy right now. Try again in a few seconds.".to_string();
            let page = login_page_with_error(
                StatusCode::SERVICE_UNAVAILABLE,
                csrf,
                username.as_str(),
                message,
            );
            Ok(([retry_after(BUSY_RETRY_SECS)], page).into_response())
        }
        SignIn::Refused => {
            tracing::warn!(?username, client = %peer.ip(), "failed dashboard sign-in");
            // Refusals are throttled per address, so these entries stay few; the actor is the
            // username as typed (only a well-formed one gets this far).
            let actor = admin_actor(username.as_str(), peer);
            record(&state, &actor, "sign-in-failed", None, Default::default()).await;
            let message = "Wrong username or password.".to_string();
            Ok(login_page_with_error(
                StatusCode::UNAUTHORIZED,
                csrf,
                username.as_str(),
                message,
            ))
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/logout.html")]
struct LogoutPage {
    csrf: String,
    flashes: Vec<Flash>,
}

/// A sign-out link must not sign out by itself (a GET can be forged); it asks.
async fn route_get_logout(admin: SessionAdmin) -> LogoutPage {
    LogoutPage {
        csrf: admin.csrf,
        flashes: Vec::new(),
    }
}

async fn route_post_logout(AdminForm { admin, .. }: AdminForm) -> PageResult<Redirect> {
    sign_out(&admin.session).await?;
    // A fresh, signed-out session carries the confirmation to the sign-in page.
    Flash::info("Signed out.").store(&admin.session).await?;
    Ok(Redirect::to("/login"))
}
