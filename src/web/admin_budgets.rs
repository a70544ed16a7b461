//! The admin API's admission tools: a key's leases (list, release all) and extending its expiry.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::access::{delete, get, post, Access, Actor, RouteSpec};
use super::audit::{api_actor, key_changes, record, record_released_leases};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use super::views::{key_json, time, KeyJson};
use super::AppState;
use crate::domain::ids::KeyId;
use crate::domain::key_fields::parse_expiry;
use crate::domain::role::AdminRole;
use crate::service::{ExtendOutcome, Extension};

pub fn routes() -> Vec<RouteSpec> {
    const READ: Access = Access::Api(AdminRole::Viewer);
    const WRITE: Access = Access::Api(AdminRole::Operator);
    vec![
        get("/api/v1/admin/keys/{id}/leases", READ, route_get_leases),
        delete("/api/v1/admin/keys/{id}/leases", WRITE, route_delete_leases),
        post("/api/v1/admin/keys/{id}/extend", WRITE, route_post_extend),
    ]
}

/// The OpenAPI paths of the routes above (assembled in `super::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(route_get_leases, route_delete_leases, route_post_extend))]
pub(super) struct Doc;

/// Longest extension in days (ten years).
const MAX_EXTEND_DAYS: u64 = 3650;

fn parse_key_id(id: &str) -> ApiResult<KeyId> {
    KeyId::parse(id).ok_or(ApiError::NotFound("key"))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct LeaseJson {
    id: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct LeasesBody {
    leases: Vec<LeaseJson>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ReleasedBody {
    released: u64,
}

/// List a key's leases
#[utoipa::path(
    get,
    path = "/api/v1/admin/keys/{id}/leases",
    operation_id = "listKeyLeases",
    tag = "admission",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key's live leases", body = LeasesBody),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
async fn route_get_leases(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<LeasesBody>> {
    let leases = state
        .keys
        .leases(parse_key_id(&id)?)
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    Ok(Json(LeasesBody {
        leases: leases
            .into_iter()
            .map(|(id, expires_at)| LeaseJson {
                id,
                expires_at: time(expires_at),
            })
            .collect(),
    }))
}

/// Release a key's leases
///
/// Frees the concurrency slots a crashed relay left behind.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/keys/{id}/leases",
    operation_id = "releaseKeyLeases",
    tag = "admission",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "How many leases were released", body = ReleasedBody),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
async fn route_delete_leases(
    State(state): State<AppState>,
    axum::Extension(actor): axum::Extension<Actor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> ApiResult<Json<ReleasedBody>> {
    let id = parse_key_id(&id)?;
    let released = state
        .keys
        .release_all_leases(id)
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    record_released_leases(&state, &api_actor(&actor, peer), id, released).await;
    Ok(Json(ReleasedBody { released }))
}

/// `{"days": N}` or `{"expiresAt": "..."}`, optionally `"enable": true`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExtendBody {
    #[serde(default)]
    days: Option<u64>,
    #[serde(default)]
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    #[serde(default)]
    enable: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
struct KeyBody<'a> {
    key: KeyJson<'a>,
}

/// Extend a key's expiry
///
/// By `days` or to `expiresAt`, from the later of now and the current expiry; `enable: true`
/// also re-enables the key.
#[utoipa::path(
    post,
    path = "/api/v1/admin/keys/{id}/extend",
    operation_id = "extendKey",
    tag = "admission",
    params(("id" = String, Path, description = "The key's id")),
    request_body = ExtendBody,
    responses(
        (status = 200, description = "The key as extended", body = KeyBody),
        (status = 400, description = "Bad `days` or `expiresAt`, or a key not yet activated", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
async fn route_post_extend(
    State(state): State<AppState>,
    axum::Extension(actor): axum::Extension<Actor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ExtendBody>,
) -> ApiResult<Response> {
    let id = parse_key_id(&id)?;
    let extension = match (body.days, body.expires_at.as_deref()) {
        (Some(days), None) if (1..=MAX_EXTEND_DAYS).contains(&days) => {
            Extension::By(chrono::Duration::days(days as i64))
        }
        (Some(_), None) => {
            return Err(ApiError::invalid(
                "days",
                format!("must be a whole number from 1 to {MAX_EXTEND_DAYS}"),
            ))
        }
        (None, Some(text)) => Extension::Until(parse_expiry(text)?),
        _ => {
            return Err(ApiError::invalid(
                "days",
                "send either days (a number of days) or expiresAt (a time), not both",
            ))
        }
    };
    // Read first for the audit entry's "before" values.
    let before = state.keys.get(id).await?;
    match state.keys.extend(id, extension, body.enable).await? {
        ExtendOutcome::Extended => {}
        ExtendOutcome::NotFound => return Err(ApiError::NotFound("key")),
        ExtendOutcome::NotActivated => return Err(ApiError::invalid(
            "days",
            "the key is in activation mode and not used yet: its validity starts at its first use",
        )),
    }
    let snapshot = state.keys.get(id).await?.ok_or(ApiError::NotFound("key"))?;
    let changes = key_changes(before.as_ref().map(|b| &b.key), Some(&snapshot.key));
    record(
        &state,
        &api_actor(&actor, peer),
        "extend",
        Some(id),
        changes,
    )
    .await;
    let now = state.keys.now();
    let body = KeyBody {
        key: key_json(&snapshot, now),
    };
    Ok(Json(&body).into_response())
}
