//! The admin API of a key's life after creation: restore a deleted key, regenerate its secret.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::access::{patch, post, Access, Actor, RouteSpec};
use super::admin_api::parse_key_id;
use super::audit::{api_actor, key_changes, record};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{parse_json, ApiJson};
use super::views::{key_json, KeyJson};
use super::AppState;
use crate::domain::ids::KeyId;
use crate::domain::key_fields::KeyFieldsInput;
use crate::domain::role::AdminRole;
use crate::domain::FieldErrors;
use crate::service::keys::{batch_name, BATCH_IN_FLIGHT, MAX_BATCH, MAX_GRACE_SECS};

/// Every route here changes keys: the operator role.
pub fn routes() -> Vec<RouteSpec> {
    const WRITE: Access = Access::Api(AdminRole::Operator);
    vec![
        post("/api/v1/admin/keys/batch", WRITE, route_post_batch),
        patch("/api/v1/admin/keys/batch", WRITE, route_patch_batch),
        post(
            "/api/v1/admin/keys/batch-delete",
            WRITE,
            route_post_batch_delete,
        ),
        post("/api/v1/admin/keys/{id}/restore", WRITE, route_post_restore),
        post(
            "/api/v1/admin/keys/{id}/regenerate",
            WRITE,
            route_post_regenerate,
        ),
    ]
}

/// The OpenAPI paths of the routes above (assembled in `super::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    route_post_batch,
    route_patch_batch,
    route_post_batch_delete,
    route_post_restore,
    route_post_regenerate
))]
pub(super) struct Doc;

#[derive(Serialize, utoipa::ToSchema)]
struct KeyBody<'a> {
    key: KeyJson<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RegeneratedBody<'a> {
    key: KeyJson<'a>,
    /// The new secret, this once only.
    api_key: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegenerateInput {
    #[serde(default)]
    grace_seconds: u64,
}

/// Restore a deleted key
#[utoipa::path(
    post,
    path = "/api/v1/admin/keys/{id}/restore",
    operation_id = "restoreKey",
    tag = "lifecycle",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key, verifying again", body = KeyBody),
        (status = 404, description = "No deleted key with this id", body = ErrorBody),
    )
)]
async fn route_post_restore(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_key_id(&id)?;
    let before = state.keys.get(id).await?;
    let snapshot = state
        .keys
        .restore(id)
        .await?
        .ok_or(ApiError::NotFound("deleted key"))?;
    let changes = key_changes(before.as_ref().map(|b| &b.key), Some(&snapshot.key));
    record(
        &state,
        &api_actor(&actor, peer),
        "restore",
        Some(id),
        changes,
    )
    .await;
    let body = KeyBody {
        key: key_json(&snapshot, Utc::now()),
    };
    Ok(Json(&body).into_response())
}

/// Regenerate a key's secret
///
/// Id, limits and usage stay; the old secret keeps verifying for `graceSeconds`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/keys/{id}/regenerate",
    operation_id = "regenerateKey",
    tag = "lifecycle",
    params(("id" = String, Path, description = "The key's id")),
    request_body = RegenerateInput,
    responses(
        (status = 200, description = "The key and its new secret, this once only", body = RegeneratedBody),
        (status = 400, description = "A bad `graceSeconds`", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
async fn route_post_regenerate(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
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
    record(
        &state,
        &api_actor(&actor, peer),
        "regenerate",
        Some(id),
        regenerate_changes(input.grace_seconds),
    )
    .await;
    let body = RegeneratedBody {
        key: key_json(&snapshot, Utc::now()),
        api_key: secret,
    };
    Ok(Json(&body).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct BatchCreatedBody<'a> {
    keys: Vec<RegeneratedBody<'a>>,
}

/// The body of a batch create as the document describes it. The handler reads the body as a map
/// (it checks the key fields as a create of the batch's longest name), so this type only
/// describes it: `count` and `namePrefix` beside the key fields of a create, without `name`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct BatchCreateInput {
    /// How many keys, 1 to 500.
    #[schema(minimum = 1, maximum = 500)]
    count: u64,
    /// Each key is named `namePrefix-001`, `namePrefix-002`, ...
    name_prefix: String,
    #[serde(flatten)]
    fields: KeyFieldsInput,
}

/// Create keys in a batch
///
/// `count` keys with the same fields, named `namePrefix-001` ...; each secret is in the answer,
/// this once only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/keys/batch",
    operation_id = "createKeyBatch",
    tag = "lifecycle",
    request_body = BatchCreateInput,
    responses(
        (status = 201, description = "The keys with their secrets", body = BatchCreatedBody),
        (status = 400, description = "A bad field; nothing is created", body = ErrorBody),
    )
)]
async fn route_post_batch(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(mut body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<Response> {
    let count = match body.remove("count") {
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .filter(|n| (1..=MAX_BATCH as u64).contains(n))
            .map(|n| n as usize),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::invalid(
            "count",
            format!("must be a whole number from 1 to {MAX_BATCH}"),
        )
    })?;
    let prefix = match body.remove("namePrefix") {
        Some(serde_json::Value::String(prefix)) if !prefix.trim().is_empty() => {
            prefix.trim().to_string()
        }
        _ => {
            return Err(ApiError::invalid(
                "namePrefix",
                "must be a non-empty string",
            ))
        }
    };
    if body.contains_key("name") {
        return Err(ApiError::invalid(
            "name",
            "a batch names its keys from namePrefix; send namePrefix instead",
        ));
    }
    // The fields are checked as a create of the batch's longest name, so a prefix too long
    // for a name is refused before anything is written.
    body.insert(
        "name".into(),
        serde_json::Value::String(batch_name(&prefix, count)),
    );
    let fields: KeyFieldsInput = parse_json(&serde_json::to_vec(&body).unwrap_or_default())?;
    let changes = fields.validate(state.keys.clients()).map_err(|errors| {
        // A bad name can only come from the prefix.
        let renamed = errors
            .into_iter()
            .map(|mut error| {
                if error.field == "name" {
                    error.field = "namePrefix".into();
                }
                error
            })
            .collect();
        match FieldErrors::check((), renamed) {
            Err(errors) => ApiError::from(errors),
            Ok(()) => ApiError::invalid("namePrefix", "is not valid"),
        }
    })?;
    let created = state
        .keys
        .create_batch(&changes, &prefix, count, &actor.name)
        .await?;
    let actor = api_actor(&actor, peer);
    let entries = created.iter().map(|(snapshot, _)| {
        let changes = key_changes(None, Some(&snapshot.key));
        record(
            &state,
            &actor,
            "batch-create",
            Some(snapshot.key.id),
            changes,
        )
    });
    futures::stream::iter(entries)
        .for_each_concurrent(BATCH_IN_FLIGHT, |entry| entry)
        .await;
    let now = Utc::now();
    let body = BatchCreatedBody {
        keys: created
            .iter()
            .map(|(snapshot, secret)| RegeneratedBody {
                key: key_json(snapshot, now),
                api_key: secret.clone(),
            })
            .collect(),
    };
    Ok((StatusCode::CREATED, Json(&body)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BatchUpdateInput {
    ids: Vec<String>,
    changes: KeyFieldsInput,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BatchDeleteInput {
    ids: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct BatchMissJson {
    id: String,
    code: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
struct BatchUpdatedBody {
    updated: usize,
    errors: Vec<BatchMissJson>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct BatchDeletedBody {
    deleted: usize,
}

/// Parses a batch's ids (1 to `MAX_BATCH`, repeats dropped); ids that cannot be keys are
/// returned apart, as misses.
fn batch_ids(ids: &[String]) -> ApiResult<(Vec<KeyId>, Vec<String>)> {
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "ids",
            format!("must list 1 to {MAX_BATCH} key ids"),
        ));
    }
    let mut keys = Vec::with_capacity(ids.len());
    let mut unknown = Vec::new();
    for id in ids {
        match KeyId::parse(id) {
            Some(key) if !keys.contains(&key) => keys.push(key),
            Some(_) => {}
            None => unknown.push(id.clone()),
        }
    }
    Ok((keys, unknown))
}

/// Update keys in a batch
///
/// The same changes to every listed key; ids that are not keys are listed in `errors`.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/keys/batch",
    operation_id = "updateKeyBatch",
    tag = "lifecycle",
    request_body = BatchUpdateInput,
    responses(
        (status = 200, description = "How many keys changed, and the misses", body = BatchUpdatedBody),
        (status = 400, description = "A bad field or id list; nothing changes", body = ErrorBody),
    )
)]
async fn route_patch_batch(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(input): ApiJson<BatchUpdateInput>,
) -> ApiResult<Json<BatchUpdatedBody>> {
    let (ids, unknown) = batch_ids(&input.ids)?;
    let changes = input.changes.validate(state.keys.clients())?;
    let before = state.keys.snapshots(&ids).await?;
    let (updated, misses) = state.keys.update_batch(&ids, &changes).await?;
    let changed: Vec<KeyId> = ids
        .iter()
        .filter(|id| !misses.iter().any(|(missed, _)| missed == *id))
        .copied()
        .collect();
    record_batch(
        &state,
        &api_actor(&actor, peer),
        "batch-update",
        before,
        &changed,
    )
    .await?;
    let errors = unknown
        .into_iter()
        .map(|id| BatchMissJson {
            id,
            code: "not_found",
        })
        .chain(misses.into_iter().map(|(id, miss)| BatchMissJson {
            id: id.to_string(),
            code: miss.code(),
        }))
        .collect();
    Ok(Json(BatchUpdatedBody { updated, errors }))
}

/// Delete keys in a batch (soft delete)
#[utoipa::path(
    post,
    path = "/api/v1/admin/keys/batch-delete",
    operation_id = "deleteKeyBatch",
    tag = "lifecycle",
    request_body = BatchDeleteInput,
    responses(
        (status = 200, description = "How many keys were deleted", body = BatchDeletedBody),
        (status = 400, description = "A bad id list", body = ErrorBody),
    )
)]
async fn route_post_batch_delete(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(input): ApiJson<BatchDeleteInput>,
) -> ApiResult<Json<BatchDeletedBody>> {
    let (ids, _) = batch_ids(&input.ids)?;
    let before = state.keys.snapshots(&ids).await?;
    let deleted = state.keys.delete_batch(&ids, &actor.name).await?;
    record_batch(
        &state,
        &api_actor(&actor, peer),
        "batch-delete",
        before,
        &deleted,
    )
    .await?;
    Ok(Json(BatchDeletedBody {
        deleted: deleted.len(),
    }))
}

/// What a regenerate changed: the secret (never shown) and how long the old one works.
pub fn regenerate_changes(grace_secs: u64) -> crate::domain::audit::Changes {
    let mut changes = crate::domain::audit::Changes::new();
    changes.insert(
        "secret".into(),
        [
            serde_json::Value::from("old"),
            serde_json::Value::from("regenerated"),
        ],
    );
    changes.insert(
        "graceSeconds".into(),
        [serde_json::Value::Null, serde_json::Value::from(grace_secs)],
    );
    changes
}

/// One entry per changed key of a batch, with its fields before (`before`, read ahead of
/// the change) and after.
async fn record_batch(
    state: &AppState,
    actor: &crate::domain::audit::Actor,
    action: &str,
    before: Vec<crate::domain::key::KeySnapshot>,
    changed: &[KeyId],
) -> ApiResult<()> {
    let after = state.keys.snapshots(changed).await?;
    let before: HashMap<KeyId, crate::domain::key::KeySnapshot> =
        before.into_iter().map(|s| (s.key.id, s)).collect();
    let entries = after.iter().map(|now| {
        let changes = key_changes(before.get(&now.key.id).map(|b| &b.key), Some(&now.key));
        record(state, actor, action, Some(now.key.id), changes)
    });
    futures::stream::iter(entries)
        .for_each_concurrent(BATCH_IN_FLIGHT, |entry| entry)
        .await;
    Ok(())
}
