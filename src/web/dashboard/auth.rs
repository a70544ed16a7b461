//! Login and logout, with throttling of repeated failures.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use tower_sessions::Session;

use super::forms::FormPairs;
use super::session::{
    csrf_matches, csrf_token, log_in, log_out, take_flashes, Flash, SessionAdmin,
};
use super::{render, PageError, PageResult};
use crate::web::AppState;

/// Failed sign-ins allowed per client address and username within the period.
const MAX_FAILURES: u64 = 5;
const FAILURE_PERIOD_SECS: u64 = 15 * 60;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/keys") }))
        .route("/login", get(route_get_login).post(route_post_login))
        .route("/logout", get(route_get_logout).post(route_post_logout))
}

#[derive(Template)]
#[template(path = "pages/login.html")]
struct LoginPage {
    csrf: String,
    username: String,
    error: Option<String>,
    flashes: Vec<Flash>,
}

async fn route_get_login(session: Session) -> PageResult {
    let flashes = take_flashes(&session).await?;
    Ok(render(&LoginPage {
        csrf: csrf_token(&session).await?,
        username: String::new(),
        error: None,
        flashes,
    }))
}

async fn route_post_login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    form: FormPairs,
) -> PageResult {
    if !csrf_matches(&session, form.get("_csrf")).await? {
        return Err(PageError::Forbidden(
            "The sign-in form expired. Reload the page and sign in again.",
        ));
    }
    let username = form.get("username").unwrap_or("").trim().to_string();
    let password = form.get("password").unwrap_or("").to_string();
    let page = |status: StatusCode, error: String, csrf: String, username: String| {
        let mut response = render(&LoginPage {
            csrf,
            username,
            error: Some(error),
            flashes: Vec::new(),
        });
        *response.status_mut() = status;
        response
    };
    let csrf = csrf_token(&session).await?;
    let store = state.keys.store();
    let scope = format!("{}|{}", peer.ip(), username.to_lowercase());
    let (failures, retry_secs) = store.login_failures(&scope).await?;
    if failures >= MAX_FAILURES {
        let minutes = retry_secs.div_ceil(60).max(1);
        let message = format!("Too many failed sign-ins. Try again in {minutes} minute(s).");
        return Ok(page(StatusCode::TOO_MANY_REQUESTS, message, csrf, username));
    }
    let valid = !username.is_empty() && state.admins.check_password(&username, &password).await?;
    if !valid {
        store.add_login_failure(&scope, FAILURE_PERIOD_SECS).await?;
        tracing::warn!(%username, client = %peer.ip(), "failed dashboard sign-in");
        let message = "Wrong username or password.".to_string();
        return Ok(page(StatusCode::UNAUTHORIZED, message, csrf, username));
    }
    store.clear_login_failures(&scope).await?;
    log_in(&session, &username).await?;
    tracing::info!(%username, "dashboard sign-in");
    Ok(Redirect::to("/keys").into_response())
}

#[derive(Template)]
#[template(path = "pages/logout.html")]
struct LogoutPage {
    csrf: String,
    flashes: Vec<Flash>,
}

/// A sign-out link must not sign out by itself (a GET can be forged); it asks.
async fn route_get_logout(admin: SessionAdmin) -> PageResult {
    Ok(render(&LogoutPage {
        csrf: admin.csrf.clone(),
        flashes: Vec::new(),
    }))
}

async fn route_post_logout(admin: SessionAdmin, form: FormPairs) -> PageResult<Response> {
    admin.check_csrf(form.get("_csrf")).await?;
    log_out(&admin.session).await?;
    Ok(Redirect::to("/login").into_response())
}
