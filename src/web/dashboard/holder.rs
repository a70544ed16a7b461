//! The key holders' page, outside the admin area: `/stats` (a holder pastes a key in a form
//! and sees that key's limits, usage and costs) and `GET /api/v1/self` (the same as JSON, with
//! the key as bearer). Lookups are throttled per client address before any work, and a wrong,
//! removed or malformed key gets one answer. Nothing of other keys, no account ids, no links
//! into the admin area.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Serialize;

use super::charts::UsageCharts;
use super::format::{count, countdown, expiry, optional_relative, percent, tokens, usd};
use crate::domain::key::KeySnapshot;
use crate::domain::money::NanoUsd;
use crate::domain::window::remaining_secs;
use crate::service::OwnKeyLookup;
use crate::web::access::{get, post, Access, RouteSpec};
use crate::web::error::{ApiError, PageResult};
use crate::web::extract::FormPairs;
use crate::web::views::{daily_usage, time, DayUsageJson, UsageJson};
use crate::web::AppState;

/// The one refusal for a key that is wrong, removed or malformed.
const REFUSED: &str = "This key was not accepted. Check that you pasted the whole key.";

pub fn routes() -> Vec<RouteSpec> {
    vec![
        get("/stats", Access::Public, route_get_stats),
        post("/stats", Access::Public, route_post_stats),
        get("/api/v1/self", Access::Public, route_get_self),
    ]
}

/// The OpenAPI path of `GET /api/v1/self` (assembled in `web::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(route_get_self))]
pub(in crate::web) struct Doc;

/// One limit of the key and how much of it is used.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitUse {
    /// The key field the limit comes from (`dailyCostLimit`, `concurrencyLimit`, ...).
    field: &'static str,
    #[serde(skip)]
    label: &'static str,
    used: f64,
    limit: f64,
    #[serde(skip)]
    used_text: String,
    #[serde(skip)]
    limit_text: String,
    /// Used share for the bar, 0 to 1 (capped).
    ratio: f64,
}

impl LimitUse {
    /// The used share as text: past the limit it says so (`163%`), where the bar can only be full.
    pub fn percent(&self) -> String {
        percent(if self.limit > 0.0 {
            self.used / self.limit
        } else {
            0.0
        })
    }
}

fn share(used: f64, limit: f64) -> f64 {
    if limit <= 0.0 {
        0.0
    } else {
        (used / limit).clamp(0.0, 1.0)
    }
}

fn count_limit(
    field: &'static str,
    label: &'static str,
    used: u64,
    limit: u64,
    format: fn(u64) -> String,
) -> Option<LimitUse> {
    (limit > 0).then(|| LimitUse {
        field,
        label,
        used: used as f64,
        limit: limit as f64,
        used_text: format(used),
        limit_text: format(limit),
        ratio: share(used as f64, limit as f64),
    })
}

fn cost_limit(
    field: &'static str,
    label: &'static str,
    used: NanoUsd,
    limit: NanoUsd,
) -> Option<LimitUse> {
    (limit.nanos() > 0).then(|| LimitUse {
        field,
        label,
        used: used.as_usd_f64(),
        limit: limit.as_usd_f64(),
        used_text: usd(used),
        limit_text: usd(limit),
        ratio: share(used.as_usd_f64(), limit.as_usd_f64()),
    })
}

/// Every limit the key has, with its use now (limits of 0, "none", are left out).
fn limits(snapshot: &KeySnapshot) -> Vec<LimitUse> {
    let key = &snapshot.key;
    let window = snapshot.window.as_ref();
    [
        count_limit(
            "concurrencyLimit",
            "Requests at once",
            snapshot.current_concurrency,
            key.concurrency_limit,
            count,
        ),
        count_limit(
            "rateLimitRequests",
            "Requests this window",
            window.map_or(0, |w| w.requests),
            key.rate_limit_requests,
            count,
        ),
        count_limit(
            "tokenLimit",
            "Tokens this window",
            window.map_or(0, |w| w.tokens),
            key.token_limit,
            tokens,
        ),
        cost_limit(
            "dailyCostLimit",
            "Cost today",
            snapshot.daily.cost,
            key.daily_cost_limit,
        ),
        cost_limit(
            "rateLimitCost",
            "Cost this window",
            snapshot.window_cost,
            key.budgets.window_cost_limit,
        ),
        cost_limit(
            "weeklyCostLimit",
            "Cost this week",
            snapshot.weekly_cost,
            key.budgets.weekly_cost_limit,
        ),
        cost_limit(
            "monthlyCostLimit",
            "Cost this month",
            snapshot.monthly.cost,
            key.budgets.monthly_cost_limit,
        ),
        cost_limit(
            "totalCostLimit",
            "Cost all time",
            snapshot.total.cost,
            key.budgets.total_cost_limit,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What a holder sees of their key as JSON: no id, no account bindings, no admin fields.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct SelfJson {
    name: String,
    status: &'static str,
    is_active: bool,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    limits: Vec<LimitUse>,
    current_concurrency: u64,
    #[schema(format = DateTime)]
    window_end_time: Option<String>,
    window_remaining_seconds: Option<u64>,
    cost: CostJson,
    usage: SelfUsageJson,
    daily: Vec<DayUsageJson>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CostJson {
    today: f64,
    month: f64,
    total: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct SelfUsageJson {
    total: UsageJson,
    daily: UsageJson,
    monthly: UsageJson,
}

/// The holders' own layout: no admin navigation, no sign-out, no links into the admin area.
#[derive(Template, WebTemplate)]
#[template(path = "pages/stats.html")]
struct StatsPage {
    error: Option<&'static str>,
    key: Option<HolderView>,
}

struct HolderView {
    name: String,
    status: &'static str,
    expires: String,
    expires_in: String,
    limits: Vec<LimitUse>,
    concurrency: String,
    has_window: bool,
    window_seconds: String,
    window_text: String,
    daily_cost: String,
    monthly_cost: String,
    total_cost: String,
    total_requests: String,
    total_tokens: String,
    charts_week: UsageCharts,
    charts_month: UsageCharts,
}

async fn route_get_stats() -> StatsPage {
    StatsPage {
        error: None,
        key: None,
    }
}

fn throttled(retry_secs: u64) -> [(header::HeaderName, HeaderValue); 1] {
    [(header::RETRY_AFTER, HeaderValue::from(retry_secs))]
}

async fn route_post_stats(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: FormPairs,
) -> PageResult<Response> {
    let secret = form.get("key").unwrap_or("").trim();
    let lookup = state
        .keys
        .lookup_own_key(secret, peer.ip(), state.config.self_lookups_per_minute)
        .await?;
    let snapshot = match lookup {
        OwnKeyLookup::Found(snapshot) => snapshot,
        OwnKeyLookup::Refused => {
            let page = StatsPage {
                error: Some(REFUSED),
                key: None,
            };
            return Ok((StatusCode::UNAUTHORIZED, page).into_response());
        }
        OwnKeyLookup::Throttled { retry_secs } => {
            let page = StatsPage {
                error: Some("Too many lookups from your address. Wait a minute and try again."),
                key: None,
            };
            return Ok((StatusCode::TOO_MANY_REQUESTS, throttled(retry_secs), page).into_response());
        }
    };
    let id = snapshot.key.id;
    let week = state.keys.key_usage_by_day(id, 7).await?;
    let month = state.keys.key_usage_by_day(id, 30).await?;
    let now = Utc::now();
    let zone = state.keys.zone();
    let key = &snapshot.key;
    let seconds = snapshot
        .window
        .and_then(|w| remaining_secs(w.end_ms, now.timestamp_millis()));
    let view = HolderView {
        name: key.name.clone(),
        status: key.status(now).as_str(),
        expires: expiry(key.expires_at, zone),
        expires_in: optional_relative(key.expires_at, now),
        limits: limits(&snapshot),
        concurrency: count(snapshot.current_concurrency),
        has_window: key.rate_limit_window_minutes > 0,
        window_seconds: seconds.map(|s| s.to_string()).unwrap_or_default(),
        window_text: countdown(seconds),
        daily_cost: usd(snapshot.daily.cost),
        monthly_cost: usd(snapshot.monthly.cost),
        total_cost: usd(snapshot.total.cost),
        total_requests: count(snapshot.total.requests),
        total_tokens: tokens(snapshot.total.all_tokens),
        charts_week: UsageCharts::new(7, &week),
        charts_month: UsageCharts::new(30, &month),
    };
    Ok(StatsPage {
        error: None,
        key: Some(view),
    }
    .into_response())
}

/// A key holder's own key
///
/// The key in the bearer token: its limits and how much of each is used, costs and 30 days of
/// usage. Nothing of other keys, no account ids. Lookups are throttled per client address.
#[utoipa::path(
    get,
    path = "/api/v1/self",
    operation_id = "getOwnKey",
    tag = "holders",
    responses(
        (status = 200, description = "The key's limits and usage", body = SelfJson),
        (status = 401, description = "A wrong, removed or malformed key (one answer for all)", body = crate::web::error::ErrorBody),
        (status = 429, description = "Too many lookups from this address", body = crate::web::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the next lookup may pass"))),
    )
)]
async fn route_get_self(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim();
    let lookup = state
        .keys
        .lookup_own_key(secret, peer.ip(), state.config.self_lookups_per_minute)
        .await?;
    let snapshot = match lookup {
        OwnKeyLookup::Found(snapshot) => snapshot,
        OwnKeyLookup::Refused => return Err(ApiError::Unauthorized),
        OwnKeyLookup::Throttled { retry_secs } => {
            return Ok((throttled(retry_secs), ApiError::TooManyRequests).into_response())
        }
    };
    let month = state.keys.key_usage_by_day(snapshot.key.id, 30).await?;
    let now = Utc::now();
    let window = snapshot.window.as_ref();
    let body = SelfJson {
        name: snapshot.key.name.clone(),
        status: snapshot.key.status(now).as_str(),
        is_active: snapshot.key.is_active,
        expires_at: snapshot.key.expires_at.map(time),
        limits: limits(&snapshot),
        current_concurrency: snapshot.current_concurrency,
        window_end_time: window
            .and_then(|w| chrono::DateTime::from_timestamp_millis(w.end_ms))
            .map(time),
        window_remaining_seconds: window
            .and_then(|w| remaining_secs(w.end_ms, now.timestamp_millis())),
        cost: CostJson {
            today: snapshot.daily.cost.as_usd_f64(),
            month: snapshot.monthly.cost.as_usd_f64(),
            total: snapshot.total.cost.as_usd_f64(),
        },
        usage: SelfUsageJson {
            total: (&snapshot.total).into(),
            daily: (&snapshot.daily).into(),
            monthly: (&snapshot.monthly).into(),
        },
        daily: daily_usage(&month),
    };
    Ok(Json(&body).into_response())
}
