//! Operations endpoints and cross-cutting layers: health, Prometheus metrics, request metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(route_get_healthz))
        .route("/metrics", get(route_get_metrics))
}

async fn route_get_healthz(State(state): State<AppState>) -> Response {
    match state.keys.store().ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unavailable: {error}\n"),
        )
            .into_response(),
    }
}

async fn route_get_metrics(State(state): State<AppState>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// Counts requests and their latency per route template (not per raw path, which would let
/// ids blow up the number of series).
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("keyward_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("keyward_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
