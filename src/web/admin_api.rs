//! The admin API: keys CRUD, the expiry sweep, and per-account usage.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;

use tower_sessions::Session;

use super::bearer::has_bearer;
use super::dashboard::{csrf_matches, signed_in_admin};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, QueryPairs};
use super::views::{daily_usage, key_snapshot, time};
use super::AppState;
use crate::domain::ids::{is_account_id, KeyId};
use crate::domain::key::KeyStatus;
use crate::domain::key_fields::KeyFieldsInput;
use crate::domain::listing::{ListQuery, SortField};

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/admin/keys",
            get(route_get_keys).post(route_post_key),
        )
        .route(
            "/api/v1/admin/keys/disable-expired",
            post(route_post_disable_expired),
        )
        .route(
            "/api/v1/admin/keys/{id}",
            get(route_get_key)
                .patch(route_patch_key)
                .delete(route_delete_key),
        )
        .route("/api/v1/admin/accounts", get(route_get_accounts))
        .route(
            "/api/v1/admin/accounts/{account}/usage",
            get(route_get_account_usage),
        )
        .route_layer(middleware::from_fn_with_state(state, require_admin))
}

/// Automation sends the admin token; the dashboard's own scripts send the session cookie and,
/// on anything but a read, the session's CSRF token in `X-CSRF-Token`.
async fn require_admin(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    if has_bearer(&headers, state.config.admin_token.as_deref()) {
        return next.run(request).await;
    }
    let signed_in = matches!(signed_in_admin(&session, &state.admins).await, Ok(Some(_)));
    let is_read = request.method() == Method::GET || request.method() == Method::HEAD;
    let csrf = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    let csrf_ok = is_read || matches!(csrf_matches(&session, csrf).await, Ok(true));
    if signed_in && csrf_ok {
        next.run(request).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}

/// Who made a change, for `createdBy`.
const API_ACTOR: &str = "admin-api";

fn parse_key_id(id: &str) -> ApiResult<KeyId> {
    KeyId::parse(id).ok_or(ApiError::NotFound("key"))
}

fn number_param(
    query: &QueryPairs,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> ApiResult<u64> {
    match query.get(name) {
        None | Some("") => Ok(default),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                name.to_string(),
                format!("must be a whole number from {min} to {max}"),
            )),
        },
    }
}

/// The list query of the API (and the dashboard): paging, search, filters, sort.
pub fn parse_list_query(query: &QueryPairs, max_per_page: u64) -> ApiResult<(ListQuery, u64, u64)> {
    query.only(&["page", "perPage", "q", "tag", "status", "sort", "order"])?;
    let page = number_param(query, "page", 1, 1, 1_000_000)?;
    let per_page = number_param(query, "perPage", 50, 1, max_per_page)?;
    let search = query.get("q").map(str::trim).filter(|q| !q.is_empty());
    if search.is_some_and(|q| q.chars().count() > 100 || q.chars().any(char::is_control)) {
        return Err(ApiError::invalid(
            "q",
            "must be at most 100 printable characters",
        ));
    }
    let tag = query.get("tag").map(str::trim).filter(|t| !t.is_empty());
    if tag.is_some_and(|t| t.chars().count() > 50) {
        return Err(ApiError::invalid("tag", "must be at most 50 characters"));
    }
    let status =
        match query.get("status").filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(KeyStatus::parse(s).ok_or_else(|| {
                ApiError::invalid("status", "must be active, disabled or expired")
            })?),
        };
    let sort = match query.get("sort").filter(|s| !s.is_empty()) {
        None => SortField::CreatedAt,
        Some(s) => SortField::parse(s).ok_or_else(|| {
            ApiError::invalid("sort", "must be createdAt, name, lastUsedAt or dailyCost")
        })?,
    };
    let descending = match query.get("order").filter(|s| !s.is_empty()) {
        None => sort != SortField::Name,
        Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(ApiError::invalid("order", "must be asc or desc")),
    };
    let list = ListQuery {
        sort,
        descending,
        offset: (page - 1) * per_page,
        count: per_page,
        tag: tag.map(str::to_string),
        status,
        search: search.map(str::to_lowercase),
    };
    Ok((list, page, per_page))
}

async fn route_get_keys(
    State(state): State<AppState>,
    query: QueryPairs,
) -> ApiResult<Json<serde_json::Value>> {
    let (list, page, per_page) = parse_list_query(&query, 1000)?;
    let (total, keys) = state.keys.list(&list).await?;
    let now = Utc::now();
    let keys: Vec<_> = keys.iter().map(|k| key_snapshot(k, now)).collect();
    Ok(Json(
        json!({"keys": keys, "total": total, "page": page, "perPage": per_page}),
    ))
}

async fn route_post_key(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<KeyFieldsInput>,
) -> ApiResult<Response> {
    let changes = body.validate(state.keys.clients())?;
    let (snapshot, secret) = state.keys.create(changes, API_ACTOR).await?;
    let body = json!({"key": key_snapshot(&snapshot, Utc::now()), "apiKey": secret});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn route_get_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let snapshot = state
        .keys
        .get(parse_key_id(&id)?)
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    Ok(Json(json!({"key": key_snapshot(&snapshot, Utc::now())})))
}

async fn route_patch_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<KeyFieldsInput>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = parse_key_id(&id)?;
    let changes = body.validate(state.keys.clients())?;
    if !state.keys.update(id, &changes).await? {
        return Err(ApiError::NotFound("key"));
    }
    let snapshot = state.keys.get(id).await?.ok_or(ApiError::NotFound("key"))?;
    Ok(Json(json!({"key": key_snapshot(&snapshot, Utc::now())})))
}

async fn route_delete_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state.keys.delete(parse_key_id(&id)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("key"))
    }
}

async fn route_post_disable_expired(
    State(state): State<AppState>,
) -> ApiResult<Json<serde_json::Value>> {
    let disabled = state.keys.disable_expired(Utc::now()).await?;
    Ok(Json(json!({"disabled": disabled})))
}

async fn route_get_accounts(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let accounts: Vec<_> = state
        .keys
        .accounts()
        .await?
        .into_iter()
        .map(|(id, last_used)| json!({"id": id, "lastUsedAt": last_used.map(time)}))
        .collect();
    Ok(Json(json!({"accounts": accounts})))
}

async fn route_get_account_usage(
    State(state): State<AppState>,
    Path(account): Path<String>,
    query: QueryPairs,
) -> ApiResult<Json<serde_json::Value>> {
    query.only(&["days"])?;
    if !is_account_id(&account) {
        return Err(ApiError::invalid(
            "accountId",
            "must be 1-128 characters without spaces",
        ));
    }
    let days = number_param(&query, "days", 30, 1, 90)? as u32;
    let usage = state.keys.account_usage(&account, days).await?;
    let accounts: Vec<String> = state
        .keys
        .accounts()
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    Ok(Json(json!({
        "accountId": account,
        "days": daily_usage(&usage),
        "accounts": accounts,
    })))
}
