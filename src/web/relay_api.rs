//! The relay API: verify (admission), usage records, lease renew and release.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::bearer::has_bearer;
use super::error::{ApiError, ApiResult};
use super::extract::ApiJson;
use super::views::{key_fields, time, KeyFields};
use super::AppState;
use crate::domain::ids::LeaseId;
use crate::domain::usage::UsageReportInput;
use crate::service::VerifyInput;
use crate::store::Refusal;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/keys/verify", post(route_post_verify))
        .route("/api/v1/usage", post(route_post_usage))
        .route("/api/v1/leases/{id}/renew", post(route_post_renew_lease))
        .route("/api/v1/leases/{id}", delete(route_delete_lease))
        .route_layer(middleware::from_fn_with_state(state, require_service_token))
}

async fn require_service_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    match state.config.service_token.as_deref() {
        None => ApiError::NoTokenConfigured {
            setting: "KEYWARD_SERVICE_TOKEN",
        }
        .into_response(),
        Some(token) if has_bearer(&headers, Some(token)) => next.run(request).await,
        Some(_) => ApiError::Unauthorized.into_response(),
    }
}

const SERVICES: [&str; 3] = ["claude", "gemini", "openai"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    key: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    acquire: bool,
}

fn refusal_response(refusal: Refusal) -> Response {
    let (status, code, message, retry_after_ms) = match refusal {
        Refusal::InvalidFormat => (
            StatusCode::UNAUTHORIZED,
            "invalid_format",
            "the key is not in the issued format",
            None,
        ),
        Refusal::NotFound => (StatusCode::UNAUTHORIZED, "not_found", "no such key", None),
        Refusal::Disabled => (
            StatusCode::UNAUTHORIZED,
            "disabled",
            "the key is disabled",
            None,
        ),
        Refusal::Expired => (
            StatusCode::UNAUTHORIZED,
            "expired",
            "the key has expired",
            None,
        ),
        Refusal::PermissionDenied => (
            StatusCode::FORBIDDEN,
            "permission_denied",
            "the key may not use this service",
            None,
        ),
        Refusal::ModelNotAllowed => (
            StatusCode::FORBIDDEN,
            "model_not_allowed",
            "the key may not use this model",
            None,
        ),
        Refusal::ClientNotAllowed => (
            StatusCode::FORBIDDEN,
            "client_not_allowed",
            "the key may not be used from this client",
            None,
        ),
        Refusal::DailyCostLimit => (
            StatusCode::TOO_MANY_REQUESTS,
            "daily_cost_limit",
            "the key has reached its daily cost limit",
            Some(-1),
        ),
        Refusal::RateLimit { retry_after_ms } => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit",
            "the key has used its requests for this window",
            Some(retry_after_ms),
        ),
        Refusal::TokenLimit { retry_after_ms } => (
            StatusCode::TOO_MANY_REQUESTS,
            "token_limit",
            "the key has used its tokens for this window",
            Some(retry_after_ms),
        ),
        Refusal::ConcurrencyLimit { retry_after_ms } => (
            StatusCode::TOO_MANY_REQUESTS,
            "concurrency_limit",
            "the key has too many requests in flight",
            Some(retry_after_ms),
        ),
    };
    metrics::counter!("keyward_verify_total", "outcome" => code).increment(1);
    let body = Json(json!({"valid": false, "error": {"code": code, "message": message}}));
    let mut response = (status, body).into_response();
    if let Some(retry_after_ms) = retry_after_ms {
        response.headers_mut().insert(
            "Retry-After",
            HeaderValue::from((retry_after_ms.max(1000) + 999) / 1000),
        );
    }
    response
}

async fn route_post_verify(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VerifyBody>,
) -> ApiResult<Response> {
    if let Some(service) = body.service.as_deref() {
        if !SERVICES.contains(&service) {
            return Err(ApiError::invalid(
                "service",
                format!("must be one of {}", SERVICES.join(", ")),
            ));
        }
    }
    let input = VerifyInput {
        key: &body.key,
        service: body.service.as_deref(),
        model: body.model.as_deref().filter(|m| !m.is_empty()),
        client: body.client.as_deref(),
        acquire: body.acquire,
    };
    let now = Utc::now();
    match state.keys.verify(&input).await? {
        Err(Refusal::DailyCostLimit) => {
            let mut response = refusal_response(Refusal::DailyCostLimit);
            let until_midnight = (state.keys.zone().next_midnight(now) - now)
                .num_seconds()
                .max(1);
            response
                .headers_mut()
                .insert("Retry-After", HeaderValue::from(until_midnight));
            Ok(response)
        }
        Err(refusal) => Ok(refusal_response(refusal)),
        Ok(admission) => {
            metrics::counter!("keyward_verify_total", "outcome" => "valid").increment(1);
            let body = Verified {
                valid: true,
                key_id: admission.key.id.to_string(),
                key_data: key_fields(&admission.key, now),
                lease: admission
                    .lease
                    .as_ref()
                    .map(|(lease, expires_at)| LeaseJson {
                        id: lease.as_str(),
                        expires_at: time(*expires_at),
                    }),
            };
            Ok(Json(body).into_response())
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Verified<'a> {
    valid: bool,
    key_id: String,
    key_data: KeyFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease: Option<LeaseJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LeaseJson<'a> {
    id: &'a str,
    expires_at: String,
}

async fn route_post_usage(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<UsageReportInput>,
) -> ApiResult<Response> {
    let report = body.validate()?;
    let outcome = state
        .keys
        .record_usage(&report)
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    Ok(Json(json!({
        "costUsd": outcome.cost.as_usd_f64(),
        "costNanoUsd": outcome.cost.nanos(),
        "dailyCostUsd": outcome.daily_cost.as_usd_f64(),
        "dailyCostNanoUsd": outcome.daily_cost.nanos(),
        "pricedAs": outcome.priced_as,
        "priceFallback": outcome.price_fallback,
    }))
    .into_response())
}

fn parse_lease(id: &str) -> ApiResult<LeaseId> {
    LeaseId::parse(id).ok_or_else(|| ApiError::invalid("id", "is not a lease id"))
}

async fn route_post_renew_lease(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let lease = parse_lease(&id)?;
    state
        .keys
        .renew_lease(&lease)
        .await?
        .ok_or(ApiError::NotFound("lease"))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn route_delete_lease(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let lease = parse_lease(&id)?;
    state.keys.release_lease(&lease).await?;
    Ok(StatusCode::NO_CONTENT)
}
