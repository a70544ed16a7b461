//! HTTP: the relay API, the admin API, the dashboard, and operations endpoints.

mod access;
mod admin_api;
mod admin_budgets;
mod admin_runtime;
pub(crate) mod audit;
mod auth;
mod dashboard;
mod data_api;
mod error;
mod extract;
pub(crate) mod lifecycle_api;
mod list_params;
pub mod openapi;
mod ops;
mod relay_api;
pub mod server;
mod views;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderValue};
use axum::middleware;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tower_sessions::SessionStore;
use tracing::Level;

pub use access::{route_table, Access};

use crate::config::Config;
use crate::service::{AdminService, KeyService};

/// Request bodies above this are refused; the largest legitimate one is a key with 200 models.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler may use. Extractors and middleware clone the state for each request, so
/// it is one shared allocation: a clone is one reference count, not a copy of every service.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

pub struct AppParts {
    pub config: Arc<Config>,
    pub keys: KeyService,
    pub admins: AdminService,
    pub metrics: PrometheusHandle,
    /// The relay's `keyData` JSON per key revision.
    pub key_data: views::KeyDataCache,
}

/// Keys whose `keyData` JSON is kept (about 1.3 KB each).
pub const KEY_DATA_ENTRIES: usize = 10_000;

pub use admin_runtime::AdminRuntime;
pub use views::KeyDataCache;

impl AppState {
    pub fn new(parts: AppParts) -> AppState {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// One span per routed request naming its method and route template (never the path, query or
/// headers, which can carry ids, secrets and tokens), and one event when it ends with its status
/// and latency; server errors are logged as failures.
fn request_tracing() -> TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    impl Fn(&Request) -> tracing::Span + Clone,
    (),
    DefaultOnResponse,
    (),
    (),
    DefaultOnFailure,
> {
    TraceLayer::new_for_http()
        .make_span_with(|request: &Request| {
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            let method = ops::method_label(request.method());
            tracing::info_span!("request", method = %method, route = %route)
        })
        .on_request(())
        .on_response(
            DefaultOnResponse::new()
                .level(Level::INFO)
                .latency_unit(LatencyUnit::Millis),
        )
        .on_body_chunk(())
        .on_eos(())
        .on_failure(DefaultOnFailure::new().latency_unit(LatencyUnit::Millis))
}

/// Static files are not fingerprinted: an hour of caching, then revalidation by Last-Modified.
const STATIC_CACHE_CONTROL: &str = "public, max-age=3600";

/// `/static`: compressed (gzip or br, as the browser asks) and cacheable.
fn static_files() -> Router {
    Router::new()
        .fallback_service(ServeDir::new("static"))
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            |response: &axum::response::Response| {
                // A missing file is not worth caching.
                let found = response.status().is_success()
                    || response.status() == axum::http::StatusCode::NOT_MODIFIED;
                found.then(|| HeaderValue::from_static(STATIC_CACHE_CONTROL))
            },
        ))
}

/// The whole HTTP surface. `sessions` keeps the dashboard's sessions (keyward's own Redis
/// store in production; handed in, so this layer knows nothing of storage); the dashboard
/// and the admin API run on `admin` (see `admin_runtime`).
pub fn app<S: SessionStore + Clone>(
    state: AppState,
    sessions: S,
    admin: tokio::runtime::Handle,
) -> Router {
    let security_headers = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    // Only the admin side uses sessions; the relay's hot path does not pay for them.
    let sessions = auth::session_layer(sessions, &state.config);
    let admin_side = access::router(&state)
        .layer(sessions)
        .layer(middleware::from_fn_with_state(
            admin,
            admin_runtime::run_on_admin_runtime,
        ));
    let mut router = Router::new()
        .merge(relay_api::router(state.clone()))
        .merge(ops::router())
        .merge(openapi::router())
        .merge(admin_side)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(middleware::from_fn(ops::track_requests))
        .route_layer(request_tracing())
        .nest_service("/static", static_files())
        .with_state(state);
    for (name, value) in security_headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
}
