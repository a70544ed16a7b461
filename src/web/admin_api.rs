//! The admin API: keys CRUD, the expiry sweep, and per-account usage.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::access::{delete, get, patch, post, Access, Actor, RouteSpec};
use super::audit::{api_actor, key_changes, record, record_disable_expired};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, QueryPairs};
use super::list_params::{ListParams, PageSizes};
use super::views::{daily_usage, key_json, time, DayUsageJson, KeyJson};
use super::AppState;
use crate::domain::ids::{is_account_id, KeyId};
use crate::domain::key::KeySnapshot;
use crate::domain::key_fields::KeyFieldsInput;
use crate::domain::listing::ListQuery;
use crate::domain::role::AdminRole;

pub fn routes() -> Vec<RouteSpec> {
    const READ: Access = Access::Api(AdminRole::Viewer);
    const WRITE: Access = Access::Api(AdminRole::Operator);
    vec![
        get("/api/v1/admin/keys", READ, route_get_keys),
        post("/api/v1/admin/keys", WRITE, route_post_key),
        post(
            "/api/v1/admin/keys/disable-expired",
            WRITE,
            route_post_disable_expired,
        ),
        get("/api/v1/admin/keys/{id}", READ, route_get_key),
        patch("/api/v1/admin/keys/{id}", WRITE, route_patch_key),
        delete("/api/v1/admin/keys/{id}", WRITE, route_delete_key),
        get("/api/v1/admin/accounts", READ, route_get_accounts),
        get(
            "/api/v1/admin/accounts/{account}/usage",
            READ,
            route_get_account_usage,
        ),
    ]
}

/// The OpenAPI paths of the routes above (assembled in `super::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    route_get_keys,
    route_post_key,
    route_post_disable_expired,
    route_get_key,
    route_patch_key,
    route_delete_key,
    route_get_accounts,
    route_get_account_usage
))]
pub(super) struct Doc;

const PAGE_SIZES: PageSizes = PageSizes::UpTo {
    default: 50,
    max: 1000,
};

pub(super) fn parse_key_id(id: &str) -> ApiResult<KeyId> {
    KeyId::parse(id).ok_or(ApiError::NotFound("key"))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct KeyListBody<'a> {
    keys: Vec<KeyJson<'a>>,
    total: u64,
    page: u64,
    per_page: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct KeyBody<'a> {
    key: KeyJson<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct CreatedBody<'a> {
    key: KeyJson<'a>,
    /// The secret, this once only.
    api_key: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct DisabledBody {
    disabled: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
struct AccountsBody {
    accounts: Vec<AccountJson>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct AccountJson {
    id: String,
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct AccountUsageBody {
    account_id: String,
    days: Vec<DayUsageJson>,
    accounts: Vec<String>,
}

// Bodies that borrow the handler's snapshots are serialized before it returns
// (`Json(&body).into_response()`), so no key is copied into an owned shape.

/// List keys
///
/// One page of keys, filtered, searched and sorted; `secret` finds the key with that full
/// secret instead.
#[utoipa::path(
    get,
    path = "/api/v1/admin/keys",
    operation_id = "listKeys",
    tag = "keys",
    params(
        ("page" = Option<u64>, Query, description = "Page number, from 1", minimum = 1),
        ("perPage" = Option<u64>, Query, description = "Keys per page (default 50)", minimum = 1, maximum = 1000),
        ("q" = Option<String>, Query, description = "Name search (case-insensitive substring)"),
        ("secret" = Option<String>, Query, description = "A whole key secret: lists the key it belongs to"),
        ("tag" = Option<String>, Query, description = "Only keys with this tag"),
        ("status" = Option<String>, Query, description = "`active`, `disabled`, `expired` or `deleted`"),
        ("sort" = Option<String>, Query, description = "`createdAt` (default), `name`, `lastUsedAt` or `dailyCost`"),
        ("order" = Option<String>, Query, description = "`asc` or `desc` (default: `asc` for `name`, else `desc`)"),
    ),
    responses(
        (status = 200, description = "A page of keys", body = KeyListBody),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
    )
)]
async fn route_get_keys(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let list = ListParams::parse(&query, PAGE_SIZES)?;
    let (total, keys) = selected_keys(&state, &query, &list.query).await?;
    let now = Utc::now();
    let body = KeyListBody {
        keys: keys.iter().map(|k| key_json(k, now)).collect(),
        total,
        page: list.page,
        per_page: list.per_page,
    };
    Ok(Json(&body).into_response())
}

/// The keys a list query selects (the list and its CSV export): with `secret=`, the one key
/// that whole secret belongs to (or none), else the page `list` asks for.
pub(super) async fn selected_keys(
    state: &AppState,
    query: &QueryPairs,
    list: &ListQuery,
) -> ApiResult<(u64, Vec<KeySnapshot>)> {
    Ok(match query.get("secret") {
        Some(secret) => {
            let found: Vec<KeySnapshot> = state
                .keys
                .find_by_secret(secret.trim())
                .await?
                .into_iter()
                .collect();
            (found.len() as u64, found)
        }
        None => state.keys.list(list).await?,
    })
}

/// Create a key
///
/// The answer carries the secret (`apiKey`), this once only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/keys",
    operation_id = "createKey",
    tag = "keys",
    request_body = KeyFieldsInput,
    responses(
        (status = 201, description = "Created", body = CreatedBody),
        (status = 400, description = "A bad field; nothing is created", body = ErrorBody),
    )
)]
async fn route_post_key(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<KeyFieldsInput>,
) -> ApiResult<Response> {
    let changes = body.validate(state.keys.clients())?;
    let (snapshot, secret) = state.keys.create(changes, &actor.name).await?;
    let changes = key_changes(None, Some(&snapshot.key));
    record(
        &state,
        &api_actor(&actor, peer),
        "create",
        Some(snapshot.key.id),
        changes,
    )
    .await;
    let body = CreatedBody {
        key: key_json(&snapshot, Utc::now()),
        api_key: secret,
    };
    Ok((StatusCode::CREATED, Json(&body)).into_response())
}

/// Get a key
#[utoipa::path(
    get,
    path = "/api/v1/admin/keys/{id}",
    operation_id = "getKey",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key", body = KeyBody),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
async fn route_get_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let snapshot = state
        .keys
        .get(parse_key_id(&id)?)
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    let body = KeyBody {
        key: key_json(&snapshot, Utc::now()),
    };
    Ok(Json(&body).into_response())
}

/// Update a key
///
/// Only the fields sent change.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/keys/{id}",
    operation_id = "updateKey",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    request_body = KeyFieldsInput,
    responses(
        (status = 200, description = "The key as changed", body = KeyBody),
        (status = 400, description = "A bad field; nothing changes", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
async fn route_patch_key(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<KeyFieldsInput>,
) -> ApiResult<Response> {
    let id = parse_key_id(&id)?;
    let changes = body.validate(state.keys.clients())?;
    // Read first for the audit entry's "before" values.
    let before = state.keys.get(id).await?;
    if !state.keys.update(id, &changes).await? {
        return Err(ApiError::NotFound("key"));
    }
    let snapshot = state.keys.get(id).await?.ok_or(ApiError::NotFound("key"))?;
    let changes = key_changes(before.as_ref().map(|b| &b.key), Some(&snapshot.key));
    record(
        &state,
        &api_actor(&actor, peer),
        "update",
        Some(id),
        changes,
    )
    .await;
    let body = KeyBody {
        key: key_json(&snapshot, Utc::now()),
    };
    Ok(Json(&body).into_response())
}

/// Delete a key
///
/// Soft delete (the key stops verifying, keeps its usage and can be restored);
/// `?permanent=true` erases the key and its usage.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/keys/{id}",
    operation_id = "deleteKey",
    tag = "keys",
    params(
        ("id" = String, Path, description = "The key's id"),
        ("permanent" = Option<bool>, Query, description = "`true` erases the key instead"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
async fn route_delete_key(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    query: QueryPairs,
) -> ApiResult<StatusCode> {
    query.only(&["permanent"])?;
    let id = parse_key_id(&id)?;
    let permanent = match query.get("permanent") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("permanent", "must be true or false")),
    };
    let before = state.keys.get(id).await?;
    let (done, action) = if permanent {
        (state.keys.erase(id).await?, "erase")
    } else {
        (state.keys.delete(id, &actor.name).await?, "delete")
    };
    if done {
        let after = state.keys.get(id).await?;
        let changes = key_changes(
            before.as_ref().map(|b| &b.key),
            after.as_ref().map(|a| &a.key),
        );
        record(&state, &api_actor(&actor, peer), action, Some(id), changes).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("key"))
    }
}

/// Disable expired keys
#[utoipa::path(
    post,
    path = "/api/v1/admin/keys/disable-expired",
    operation_id = "disableExpiredKeys",
    tag = "keys",
    responses((status = 200, description = "How many keys were disabled", body = DisabledBody))
)]
async fn route_post_disable_expired(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> ApiResult<Json<DisabledBody>> {
    let disabled = state.keys.disable_expired(Utc::now()).await?;
    record_disable_expired(&state, &api_actor(&actor, peer), disabled).await;
    Ok(Json(DisabledBody { disabled }))
}

fn account_json((id, last_used): (String, Option<DateTime<Utc>>)) -> AccountJson {
    AccountJson {
        id,
        last_used_at: last_used.map(time),
    }
}

/// List upstream accounts
///
/// Every account id a key is bound to or usage was recorded for.
#[utoipa::path(
    get,
    path = "/api/v1/admin/accounts",
    operation_id = "listAccounts",
    tag = "accounts",
    responses((status = 200, description = "The accounts", body = AccountsBody))
)]
async fn route_get_accounts(State(state): State<AppState>) -> ApiResult<Json<AccountsBody>> {
    let accounts = state.keys.accounts().await?;
    Ok(Json(AccountsBody {
        accounts: accounts.into_iter().map(account_json).collect(),
    }))
}

/// An account's daily usage
///
/// Usage per day and canonical model for the last `days` days.
#[utoipa::path(
    get,
    path = "/api/v1/admin/accounts/{account}/usage",
    operation_id = "getAccountUsage",
    tag = "accounts",
    params(
        ("account" = String, Path, description = "The upstream account id"),
        ("days" = Option<u64>, Query, description = "How many days, ending today (default 30)", minimum = 1, maximum = 90),
    ),
    responses(
        (status = 200, description = "Daily usage per model", body = AccountUsageBody),
        (status = 400, description = "A bad account id or `days`", body = ErrorBody),
    )
)]
async fn route_get_account_usage(
    State(state): State<AppState>,
    Path(account): Path<String>,
    query: QueryPairs,
) -> ApiResult<Json<AccountUsageBody>> {
    query.only(&["days"])?;
    if !is_account_id(&account) {
        return Err(ApiError::invalid(
            "accountId",
            "must be 1-128 characters without spaces",
        ));
    }
    let days = query.number("days", 30, 1, 90)? as u32;
    let usage = state.keys.account_usage(&account, days).await?;
    let accounts = state.keys.accounts().await?;
    Ok(Json(AccountUsageBody {
        account_id: account,
        days: daily_usage(&usage),
        accounts: accounts.into_iter().map(|(id, _)| id).collect(),
    }))
}
