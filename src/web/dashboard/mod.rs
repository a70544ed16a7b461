//! The admin dashboard: server-rendered pages behind a session login.

mod accounts;
mod auth;
mod charts;
mod format;
mod forms;
mod keys;
mod session;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;

use askama::Template;

pub use session::{csrf_matches, session_layer, signed_in_admin};

use super::error::Failure;
use super::AppState;
use crate::service::ServiceError;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(keys::router())
        .merge(accounts::router())
}

/// A rendered page, or a plain 500 if the template fails (a bug, logged).
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (
            [
                ("content-type", "text/html; charset=utf-8"),
                ("cache-control", "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// Dashboard failures, shown as a page that says what happened and what to do.
#[derive(Debug)]
pub enum PageError {
    Failed(Failure),
    NotFound,
    Forbidden(&'static str),
    BadRequest(String),
}

impl From<ServiceError> for PageError {
    fn from(error: ServiceError) -> Self {
        match Failure::classify(error) {
            Ok(failure) => PageError::Failed(failure),
            Err(fields) => PageError::BadRequest(fields.to_string()),
        }
    }
}

impl From<tower_sessions::session::Error> for PageError {
    fn from(error: tower_sessions::session::Error) -> Self {
        Failure::StorageUnavailable.log(&error);
        PageError::Failed(Failure::StorageUnavailable)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            PageError::Failed(failure @ Failure::StorageUnavailable) => (
                failure.status(),
                "Storage unavailable",
                "keyward cannot reach Redis right now. Nothing was changed. Reload this page in a few seconds.".to_string(),
            ),
            PageError::Failed(failure @ Failure::Internal) => (
                failure.status(),
                "Something went wrong",
                "keyward failed unexpectedly; the error is in its log. Reload the page to see what was saved, and tell the operator if it happens again.".to_string(),
            ),
            PageError::NotFound => (StatusCode::NOT_FOUND, "Not found", "There is nothing at this address.".to_string()),
            PageError::Forbidden(why) => (StatusCode::FORBIDDEN, "Refused", why.to_string()),
            PageError::BadRequest(why) => (StatusCode::BAD_REQUEST, "Bad request", why.clone()),
        };
        let mut response = render(&ErrorPage {
            title,
            message: &message,
        });
        *response.status_mut() = status;
        response
    }
}

pub type PageResult<T = Response> = Result<T, PageError>;
