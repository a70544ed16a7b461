//! The admin API of a key's life after creation: restore a deleted key, regenerate its secret.

use axum::extract::{Path, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::admin_api::parse_key_id;
use super::auth::require_admin;
use super::error::{ApiError, ApiResult};
use super::extract::ApiJson;
use super::views::{key_json, KeyJson};
use super::AppState;
use crate::service::keys::MAX_GRACE_SECS;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/keys/{id}/restore", post(route_post_restore))
        .route(
            "/api/v1/admin/keys/{id}/regenerate",
            post(route_post_regenerate),
        )
        .route_layer(middleware::from_fn_with_state(state, require_admin))
}

#[derive(Serialize)]
struct KeyBody<'a> {
    key: KeyJson<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RegeneratedBody<'a> {
    key: KeyJson<'a>,
    /// The new secret, this once only.
    api_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegenerateInput {
    #[serde(default)]
    grace_seconds: u64,
}

async fn route_post_restore(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let snapshot = state
        .keys
        .restore(parse_key_id(&id)?)
        .await?
        .ok_or(ApiError::NotFound("deleted key"))?;
    let body = KeyBody {
        key: key_json(&snapshot, Utc::now()),
    };
    Ok(Json(&body).into_response())
}

async fn route_post_regenerate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RegenerateInput>,
) -> ApiResult<Response> {
    let id = parse_key_id(&id)?;
    if input.grace_seconds > MAX_GRACE_SECS {
        return Err(ApiError::invalid(
            "graceSeconds",
            format!("must be between 0 and {MAX_GRACE_SECS}"),
        ));
    }
    let (snapshot, secret) = state
        .keys
        .regenerate(id, input.grace_seconds)
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    let body = RegeneratedBody {
        key: key_json(&snapshot, Utc::now()),
        api_key: secret,
    };
    Ok(Json(&body).into_response())
}
