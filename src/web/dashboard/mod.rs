//! The admin dashboard: server-rendered pages behind a session sign-in.

mod accounts;
mod audit;
mod batch;
mod bulk;
mod charts;
mod flash;
mod format;
mod forms;
mod key_form;
mod key_view;
mod keys;
mod lifecycle;
mod login;

use axum::http::{header, HeaderValue};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use super::AppState;

/// Every dashboard answer is `no-store`: pages show secrets once, and live values that a cached
/// copy (the back button) would show stale.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(login::router())
        .merge(keys::router())
        .merge(key_form::router())
        .merge(lifecycle::router())
        .merge(audit::router())
        .merge(bulk::router())
        .merge(batch::router())
        .merge(accounts::router())
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}
