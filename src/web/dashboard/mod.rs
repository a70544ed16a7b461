//! The admin dashboard: server-rendered pages behind a session sign-in.

mod accounts;
mod admins;
mod audit;
mod batch;
mod bulk;
mod charts;
mod flash;
mod format;
mod forms;
mod holder;
mod key_form;
mod key_requests;
mod key_tools;
mod key_view;
mod keys;
mod lifecycle;
mod login;

use axum::http::{header, HeaderValue};
use tower_http::set_header::SetResponseHeaderLayer;

use super::access::RouteSpec;

/// The OpenAPI path of the holders' `GET /api/v1/self`.
pub(super) use holder::Doc as SelfApiDoc;

/// Every dashboard route with its declared access (see `web::access`).
pub fn routes() -> Vec<RouteSpec> {
    let mut routes = login::routes();
    routes.extend(keys::routes());
    routes.extend(key_form::routes());
    routes.extend(key_tools::routes());
    routes.extend(accounts::routes());
    routes.extend(admins::routes());
    routes.extend(holder::routes());
    routes.extend(lifecycle::routes());
    routes.extend(audit::routes());
    routes.extend(bulk::routes());
    routes.extend(batch::routes());
    routes
}

/// Every dashboard answer is `no-store`: pages show secrets once, and live values that a cached
/// copy (the back button) would show stale.
pub fn no_store() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}
