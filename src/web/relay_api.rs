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
use crate::domain::pricing::TokenCounts;
use crate::domain::usage::{UsageFormat, UsageRefusal, UsageReportInput, MAX_COUNTER};
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
    let model = verify_model(body.model.as_deref())?;
    let input = VerifyInput {
        key: &body.key,
        service: body.service.as_deref(),
        model,
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

/// Longest model name a verify accepts (as a usage record does).
const MAX_MODEL_CHARS: usize = 200;

/// The model a verify names, trimmed; `None` when absent or blank. A name with whitespace or
/// control characters inside is no real model: refused rather than compared, since a relay
/// that cleans it up afterwards would reach a model the key may not use.
fn verify_model(model: Option<&str>) -> ApiResult<Option<&str>> {
    let Some(model) = model.map(str::trim).filter(|m| !m.is_empty()) else {
        return Ok(None);
    };
    if model.chars().count() > MAX_MODEL_CHARS
        || model.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::invalid(
            "model",
            format!("must be 1-{MAX_MODEL_CHARS} characters without spaces or control characters"),
        ));
    }
    Ok(Some(model))
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

/// The usage answer. A repeat of a `requestId` carries the first answer's figures.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageRecorded {
    cost_usd: f64,
    cost_nano_usd: i64,
    daily_cost_usd: f64,
    daily_cost_nano_usd: i64,
    priced_as: String,
    price_fallback: bool,
    /// The shape `usage` was read as.
    format: UsageFormat,
    /// The normalised counts that were priced and recorded.
    tokens: TokensJson,
    /// True when this `requestId` was applied before and nothing changed now.
    duplicate: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokensJson {
    input_tokens: u64,
    output_tokens: u64,
    cache_create_tokens: u64,
    cache_create_5m_tokens: u64,
    cache_create_1h_tokens: u64,
    cache_read_tokens: u64,
    all_tokens: u64,
}

impl From<&TokenCounts> for TokensJson {
    fn from(tokens: &TokenCounts) -> TokensJson {
        TokensJson {
            input_tokens: tokens.input,
            output_tokens: tokens.output,
            cache_create_tokens: tokens.cache_create_total(),
            cache_create_5m_tokens: tokens.cache_write_5m,
            cache_create_1h_tokens: tokens.cache_write_1h,
            cache_read_tokens: tokens.cache_read,
            all_tokens: tokens.all(),
        }
    }
}

#[derive(Serialize)]
struct CounterFullBody {
    error: CounterFullError,
}

#[derive(Serialize)]
struct CounterFullError {
    code: &'static str,
    message: String,
    counter: String,
}

/// `409 counter_full`: the record would take a usage counter past 2^53 - 1; nothing of it was
/// recorded (its lease is released), and repeating it cannot succeed.
fn counter_full_response(counter: String) -> Response {
    let body = CounterFullBody {
        error: CounterFullError {
            code: "counter_full",
            message: format!(
                "usage counter `{counter}` would pass {MAX_COUNTER}; nothing of this record was recorded"
            ),
            counter,
        },
    };
    (StatusCode::CONFLICT, Json(body)).into_response()
}

async fn route_post_usage(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<UsageReportInput>,
) -> ApiResult<Response> {
    let report = body.validate()?;
    let outcome = match state.keys.record_usage(&report).await? {
        Ok(outcome) => outcome,
        Err(UsageRefusal::UnknownKey) => return Err(ApiError::NotFound("key")),
        Err(UsageRefusal::CounterFull { counter }) => return Ok(counter_full_response(counter)),
    };
    Ok(Json(UsageRecorded {
        cost_usd: outcome.cost.as_usd_f64(),
        cost_nano_usd: outcome.cost.nanos(),
        daily_cost_usd: outcome.daily_cost.as_usd_f64(),
        daily_cost_nano_usd: outcome.daily_cost.nanos(),
        priced_as: outcome.priced_as,
        price_fallback: outcome.price_fallback,
        format: report.format,
        tokens: TokensJson::from(&report.tokens),
        duplicate: outcome.repeated,
    })
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
