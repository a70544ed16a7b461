//! The relay API: verify (admission), usage records, lease renew and release.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::require_service_token;
use super::error::{ApiError, ApiResult, ErrorBody, ErrorDetail};
use super::extract::ApiJson;
use super::views::{time, KeyDataCache, KeyFields};
use super::AppState;
use crate::domain::budgets::parse_client_ip;
use crate::domain::ids::LeaseId;
use crate::domain::pricing::TokenCounts;
use crate::domain::refusal::Refused;
use crate::domain::usage::UsageFormat;
use crate::domain::usage::{UsageRefusal, UsageReportInput};
use crate::service::VerifyInput;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/keys/verify", post(route_post_verify))
        .route("/api/v1/usage", post(route_post_usage))
        .route("/api/v1/leases/{id}/renew", post(route_post_renew_lease))
        .route("/api/v1/leases/{id}", delete(route_delete_lease))
        .route_layer(middleware::from_fn_with_state(state, require_service_token))
}

/// The OpenAPI paths of the routes above (assembled in `super::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    route_post_verify,
    route_post_usage,
    route_post_renew_lease,
    route_delete_lease
))]
pub(super) struct Doc;

use crate::domain::key_fields::SERVICES;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
    /// The caller's client address, for keys with `allowedIps`.
    #[serde(default, rename = "clientIp")]
    client_ip: Option<String>,
    /// How long a request that finds concurrency full may wait for a slot (0–60000 ms).
    #[serde(default, rename = "waitMs")]
    wait_ms: Option<u64>,
}

/// Longest `waitMs` a verify accepts.
const MAX_WAIT_MS: u64 = 60_000;

/// Counts a verify by its outcome (`valid` or the refusal's code). The handles are kept per
/// worker thread, so the hot path does not look the metric up in the recorder each time.
fn count_verify(outcome: &'static str) {
    thread_local! {
        static COUNTERS: std::cell::RefCell<Vec<(&'static str, metrics::Counter)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    COUNTERS.with_borrow_mut(|counters| {
        if let Some((_, counter)) = counters.iter().find(|(o, _)| *o == outcome) {
            counter.increment(1);
            return;
        }
        let counter = metrics::counter!("keyward_verify_total", "outcome" => outcome);
        counter.increment(1);
        counters.push((outcome, counter));
    });
}

/// `{"valid": false, "error": {...}}`: a refused verify.
#[derive(Serialize, utoipa::ToSchema)]
struct RefusedBody<'a> {
    valid: bool,
    error: ErrorDetail<'a>,
}

/// The refusal's status, code and message from its table row, with `Retry-After` when waiting
/// helps.
fn refusal_response(refused: Refused) -> Response {
    let row = refused.refusal.row();
    count_verify(row.code);
    let status = StatusCode::from_u16(row.http_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = RefusedBody {
        valid: false,
        error: ErrorDetail::new(row.code, row.message),
    };
    let mut response = (status, Json(body)).into_response();
    if let Some(secs) = refused.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Verify a key (an admission with `acquire: true`)
///
/// Checks a key and its limits; with `acquire: true` it also takes a concurrency slot (a lease)
/// and counts one request in the rate window, atomically with the checks.
#[utoipa::path(
    post,
    path = "/api/v1/keys/verify",
    operation_id = "verifyKey",
    tag = "relay",
    request_body = VerifyBody,
    responses(
        (status = 200, description = "The key may be used", body = Verified),
        (status = 401, description = "Refused: `invalid_format`, `not_found`, `disabled` or `expired` (a missing or wrong service token gets the same `error` object without `valid`)", body = RefusedBody),
        (status = 403, description = "Refused: `permission_denied`, `model_not_allowed`, `client_not_allowed` or `ip_not_allowed`", body = RefusedBody),
        (status = 429, description = "Refused: `concurrency_limit`, `rate_limit`, `token_limit`, `daily_cost_limit`, `total_cost_limit`, `weekly_cost_limit`, `monthly_cost_limit` or `window_cost_limit`", body = RefusedBody,
            headers(("Retry-After" = u64, description = "Seconds until waiting may help (absent for `total_cost_limit`)"))),
    )
)]
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
    let client_ip = match body.client_ip.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(
            parse_client_ip(text)
                .ok_or_else(|| ApiError::invalid("clientIp", "must be an IPv4 or IPv6 address"))?,
        ),
    };
    if body.wait_ms.is_some_and(|ms| ms > MAX_WAIT_MS) {
        return Err(ApiError::invalid(
            "waitMs",
            format!("must be from 0 to {MAX_WAIT_MS}"),
        ));
    }
    let input = VerifyInput {
        key: &body.key,
        service: body.service.as_deref(),
        model,
        client: body.client.as_deref(),
        client_ip,
        acquire: body.acquire,
        wait: std::time::Duration::from_millis(body.wait_ms.unwrap_or(0)),
    };
    let now = Utc::now();
    match state.keys.verify(&input).await? {
        Err(refused) => Ok(refusal_response(refused)),
        Ok(admission) => {
            count_verify("valid");
            let body = verified_json(&state.key_data, &admission, now);
            Ok((
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response())
        }
    }
}

/// A verify's answer, as [`Verified`] serializes it, with `keyData` from the per-revision
/// cache (see [`KeyDataCache`]).
fn verified_json(
    cache: &KeyDataCache,
    admission: &crate::service::Verified,
    now: DateTime<Utc>,
) -> Vec<u8> {
    let key_id = admission.key.id.to_string();
    let mut body = Vec::with_capacity(2048);
    body.extend_from_slice(b"{\"valid\":true,\"keyId\":");
    // A hyphenated UUID needs no escaping, but it goes through the serializer like any string.
    let _ = serde_json::to_writer(&mut body, &key_id);
    body.extend_from_slice(b",\"keyData\":");
    cache.write_key_data(&mut body, &admission.key, admission.revision, now);
    if let Some((lease, expires_at)) = &admission.lease {
        body.extend_from_slice(b",\"lease\":");
        let lease = LeaseJson {
            id: lease.as_str(),
            expires_at: time(*expires_at),
        };
        let _ = serde_json::to_writer(&mut body, &lease);
    }
    body.push(b'}');
    body
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

// The documented shape of an admitted verify's answer; `verified_json` writes it (a test checks
// that the two agree).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(not(test), allow(dead_code))]
struct Verified<'a> {
    valid: bool,
    key_id: String,
    key_data: KeyFields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease: Option<LeaseJson<'a>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct LeaseJson<'a> {
    id: &'a str,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// The usage answer. A repeat of a `requestId` carries the first answer's figures.
#[derive(Serialize, utoipa::ToSchema)]
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

#[derive(Serialize, utoipa::ToSchema)]
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

/// Record a request's usage
///
/// Prices the usage (any of four shapes, named by `format` or recognised by its members),
/// adds it to the key's counters and releases `lease` when given. A repeated `requestId`
/// within 24 hours is answered with the first answer's figures and changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/usage",
    operation_id = "recordUsage",
    tag = "relay",
    request_body = UsageReportInput,
    responses(
        (status = 200, description = "Recorded (or a repeat of a `requestId`)", body = UsageRecorded),
        (status = 400, description = "A malformed report; nothing is recorded", body = ErrorBody),
        (status = 404, description = "Unknown `keyId`", body = ErrorBody),
        (status = 409, description = "`counter_full`: a counter would pass 2^53 - 1; nothing is recorded", body = ErrorBody),
    )
)]
async fn route_post_usage(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<UsageReportInput>,
) -> ApiResult<Response> {
    let report = body.validate()?;
    let outcome = match state.keys.record_usage(&report).await? {
        Ok(outcome) => outcome,
        Err(UsageRefusal::UnknownKey) => return Err(ApiError::NotFound("key")),
        Err(UsageRefusal::CounterFull { counter }) => {
            return Err(ApiError::CounterFull { counter })
        }
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

/// Renew a lease
#[utoipa::path(
    post,
    path = "/api/v1/leases/{id}/renew",
    operation_id = "renewLease",
    tag = "relay",
    params(("id" = String, Path, description = "The lease id from a verify")),
    responses(
        (status = 204, description = "Renewed"),
        (status = 400, description = "Not a lease id", body = ErrorBody),
        (status = 404, description = "The lease has expired or was released", body = ErrorBody),
    )
)]
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

/// Release a lease (idempotent)
#[utoipa::path(
    delete,
    path = "/api/v1/leases/{id}",
    operation_id = "releaseLease",
    tag = "relay",
    params(("id" = String, Path, description = "The lease id from a verify")),
    responses(
        (status = 204, description = "Released, or already gone"),
        (status = 400, description = "Not a lease id", body = ErrorBody),
    )
)]
async fn route_delete_lease(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let lease = parse_lease(&id)?;
    state.keys.release_lease(&lease).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{TimeDelta, Utc};
    use serde_json::Value;

    use super::*;
    use crate::domain::ids::{KeyId, LeaseId};
    use crate::domain::key::ApiKey;
    use crate::domain::key_fields::Permissions;
    use crate::domain::money::NanoUsd;
    use crate::web::views::key_fields;

    fn key(name: &str) -> ApiKey {
        let now = Utc::now();
        ApiKey {
            id: KeyId::new(),
            name: name.into(),
            description: "a \"quoted\" line,\nand \"status\": no key".into(),
            token_limit: 7,
            expires_at: Some(now + TimeDelta::days(3)),
            accounts: Default::default(),
            permissions: Permissions::ALL,
            is_active: true,
            concurrency_limit: 2,
            rate_limit_window_minutes: 60,
            rate_limit_requests: 100,
            enable_model_restriction: true,
            restricted_models: vec!["claude-*".into()],
            enable_client_restriction: false,
            allowed_clients: Vec::new(),
            daily_cost_limit: NanoUsd::from_nanos(1_500_000_000),
            budgets: Default::default(),
            tags: vec![",\"status\":".into()],
            created_at: now,
            updated_at: now,
            last_used_at: None,
            created_by: "admin".into(),
            key_hint: "cr_ab…yz".into(),
            deleted_at: None,
            deleted_by: None,
            old_secret_valid_until: Some(now + TimeDelta::minutes(5)),
        }
    }

    /// What the documented shape serializes to.
    fn documented(admission: &crate::service::Verified, now: DateTime<Utc>) -> Value {
        serde_json::to_value(Verified {
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
        })
        .expect("serializes")
    }

    #[test]
    fn the_fast_verify_answer_is_the_documented_one_as_live_fields_move() {
        let cache = KeyDataCache::new(16);
        let mut now = Utc::now();
        let key = key("team \"a\"");
        let lease = LeaseId::new(key.id);
        let mut admission = crate::service::Verified {
            key: Arc::new(key.clone()),
            revision: 3,
            lease: Some((lease, now + TimeDelta::minutes(10))),
            window: None,
        };
        for step in 0..4 {
            // The same revision with a new last use, later clocks (the old secret's grace and
            // then the expiry pass), and no lease: only the live fields may differ.
            let written = verified_json(&cache, &admission, now);
            let parsed: Value = serde_json::from_slice(&written).expect("valid JSON");
            assert_eq!(parsed, documented(&admission, now), "step {step}");
            now += TimeDelta::days(2);
            admission.key = Arc::new(ApiKey {
                last_used_at: Some(now),
                ..(*admission.key).clone()
            });
            admission.lease = None;
        }
        let status = |admission: &crate::service::Verified, now| {
            let written = verified_json(&cache, admission, now);
            serde_json::from_slice::<Value>(&written).expect("valid JSON")["keyData"]["status"]
                .clone()
        };
        assert_eq!(status(&admission, now), "expired");
    }

    #[test]
    fn a_new_revision_is_not_answered_from_the_old_one() {
        let cache = KeyDataCache::new(16);
        let now = Utc::now();
        let mut admission = crate::service::Verified {
            key: Arc::new(key("before")),
            revision: 1,
            lease: None,
            window: None,
        };
        let _ = verified_json(&cache, &admission, now);
        admission.key = Arc::new(ApiKey {
            name: "after".into(),
            ..(*admission.key).clone()
        });
        admission.revision = 2;
        let parsed: Value =
            serde_json::from_slice(&verified_json(&cache, &admission, now)).expect("valid JSON");
        assert_eq!(parsed["keyData"]["name"], "after");
        assert_eq!(parsed, documented(&admission, now));
    }
}
