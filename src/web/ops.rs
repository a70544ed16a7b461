//! Operations endpoints and cross-cutting layers: health, Prometheus metrics, request metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
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

/// The OpenAPI paths of the routes above (assembled in `super::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(route_get_healthz, route_get_metrics))]
pub(super) struct Doc;

/// Health check
///
/// No authentication: whether keyward can reach Redis.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "health",
    tag = "operations",
    responses(
        (status = 200, description = "Redis answers", body = String, content_type = "text/plain"),
        (status = 503, description = "Redis does not answer", body = String, content_type = "text/plain"),
    )
)]
async fn route_get_healthz(State(state): State<AppState>) -> Response {
    match state.keys.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unavailable: {}\n", crate::error_chain(&error)),
        )
            .into_response(),
    }
}

/// Prometheus metrics
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
async fn route_get_metrics(State(state): State<AppState>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// Counts requests and their latency per route template and method. Every label comes from a
/// closed set, so no client can add series: the raw path would let ids in, and the raw method
/// any token a client makes up (each new value a series kept for the process's life).
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    request_metrics::record(route, method, response.status(), started.elapsed());
    response
}

/// The request metrics' handles, kept per worker thread: looking a labelled metric up in the
/// recorder (building its key, hashing it, a lock) on every request showed in the verify
/// path's profile, while the handles for a route, method and status never change.
mod request_metrics {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::time::Duration;

    use axum::http::StatusCode;
    use metrics::{Counter, Histogram};

    struct RouteMetrics {
        duration: Histogram,
        /// One counter per method and status seen on this route (a handful).
        requests: Vec<(&'static str, StatusCode, Counter)>,
    }

    thread_local! {
        static HANDLES: RefCell<HashMap<String, RouteMetrics>> = RefCell::new(HashMap::new());
    }

    pub fn record(route: &str, method: &'static str, status: StatusCode, took: Duration) {
        HANDLES.with_borrow_mut(|handles| {
            if !handles.contains_key(route) {
                let duration = metrics::histogram!(
                    "keyward_http_request_duration_seconds", "route" => route.to_string()
                );
                let fresh = RouteMetrics {
                    duration,
                    requests: Vec::new(),
                };
                handles.insert(route.to_string(), fresh);
            }
            let Some(metrics) = handles.get_mut(route) else {
                return;
            };
            let counter = match metrics
                .requests
                .iter()
                .find(|(m, s, _)| *m == method && *s == status)
            {
                Some((_, _, counter)) => counter,
                None => {
                    let counter = metrics::counter!(
                        "keyward_http_requests_total",
                        "route" => route.to_string(),
                        "method" => method,
                        "status" => status.as_u16().to_string()
                    );
                    metrics.requests.push((method, status, counter));
                    &metrics.requests[metrics.requests.len() - 1].2
                }
            };
            counter.increment(1);
            metrics.duration.record(took.as_secs_f64());
        });
    }
}

/// The method as a metrics label: the standard methods the routes serve, or `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        for made_up in ["FOO", "get", "TRACE", "CONNECT", "M0X"] {
            let method = Method::from_bytes(made_up.as_bytes()).expect("a token");
            assert_eq!(method_label(&method), "other", "{made_up}");
        }
    }
}
