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
use crate::service::SignIn;
use crate::web::AppState;

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
    match state
        .admins
        .sign_in(&username, &password, peer.ip())
        .await?
    {
        SignIn::Accepted => {}
        SignIn::Throttled { retry_minutes } => {
            let wait = super::format::plural(retry_minutes, "minute", "minutes");
            let message = format!("Too many failed sign-ins. Try again in {wait}.");
            return Ok(page(StatusCode::TOO_MANY_REQUESTS, message, csrf, username));
        }
        SignIn::Refused => {
            tracing::warn!(%username, client = %peer.ip(), "failed dashboard sign-in");
            let message = "Wrong username or password.".to_string();
            return Ok(page(StatusCode::UNAUTHORIZED, message, csrf, username));
        }
    }
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
    // A fresh, signed-out session carries the confirmation to the sign-in page.
    super::session::flash(&admin.session, "info", "Signed out.").await?;
    Ok(Redirect::to("/login").into_response())
}
