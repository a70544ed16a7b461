//! The audit log as the web sees it: who is acting (the web layer knows the admin and the
//! client address), what changed on a key, the admin API's `GET /api/v1/admin/audit` and the
//! `/audit` page.

use std::net::SocketAddr;
use std::sync::LazyLock;

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde::Serialize;

use super::access::{self, get, Access, RouteSpec};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Pairs, QueryPairs};
use super::views::{key_fields, time};
use super::AppState;
use crate::domain::audit::{is_entry_id, Actor, AuditEntry, AuditQuery, Changes, NewAuditEntry};
use crate::domain::budgets::KeyBudgets;
use crate::domain::ids::KeyId;
use crate::domain::key::ApiKey;
use crate::domain::key_fields::Permissions;
use crate::domain::money::NanoUsd;
use crate::domain::role::AdminRole;
use crate::service::ServiceResult;

/// Reading the audit log needs only the viewer role: it shows who changed what, never a secret.
pub fn routes() -> Vec<RouteSpec> {
    vec![get(
        "/api/v1/admin/audit",
        Access::Api(AdminRole::Viewer),
        route_get_audit_api,
    )]
}

/// The OpenAPI paths of the routes above (assembled in `super::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(route_get_audit_api))]
pub(super) struct Doc;

/// An admin API caller: the signed-in admin by name, or `admin-api` for the admin token (the
/// role guard puts who it let in on the request).
pub fn api_actor(actor: &access::Actor, peer: SocketAddr) -> Actor {
    Actor {
        name: actor.name.clone(),
        address: Some(peer.ip()),
    }
}

/// A signed-in admin (or one trying to sign in).
pub fn admin_actor(username: &str, peer: SocketAddr) -> Actor {
    Actor {
        name: username.to_string(),
        address: Some(peer.ip()),
    }
}

/// Fields of a key that are not recorded: bookkeeping, and the hint (part of the secret).
const UNRECORDED: [&str; 6] = [
    "id",
    "createdAt",
    "updatedAt",
    "lastUsedAt",
    "createdBy",
    "keyHint",
];

/// The fields that differ between two states of a key (`None`: it did not exist), as the API
/// names and shows them; limits, state and tags, never a secret or hash.
pub fn key_changes(before: Option<&ApiKey>, after: Option<&ApiKey>) -> Changes {
    let now = Utc::now();
    let as_map = |key: Option<&ApiKey>| match key.map(|k| serde_json::to_value(key_fields(k, now)))
    {
        Some(Ok(serde_json::Value::Object(map))) => map,
        _ => serde_json::Map::new(),
    };
    let (before, after) = (as_map(before), as_map(after));
    let mut changes = Changes::new();
    for field in before.keys().chain(after.keys()) {
        if UNRECORDED.contains(&field.as_str()) || changes.contains_key(field) {
            continue;
        }
        let old = before.get(field).cloned().unwrap_or_default();
        let new = after.get(field).cloned().unwrap_or_default();
        if old != new {
            changes.insert(field.clone(), [old, new]);
        }
    }
    changes
}

/// The actions whose changes are a new key's every field (`[null, value]`).
const CREATIONS: [&str; 2] = ["create", "batch-create"];

/// What a creation's changes show for each field of a key created with a name alone. A
/// creation's entry is stored without the fields at these values (most of a new key's entry,
/// and the log holds one per key created), and read with them put back, so it shows as it
/// was recorded. An entry of the previous release has every field already.
static CREATION_DEFAULTS: LazyLock<Changes> = LazyLock::new(|| {
    let now = Utc::now();
    let key = ApiKey {
        id: KeyId::new(),
        name: String::new(),
        description: String::new(),
        token_limit: 0,
        expires_at: None,
        accounts: Default::default(),
        permissions: Permissions::ALL,
        is_active: true,
        concurrency_limit: 0,
        rate_limit_window_minutes: 0,
        rate_limit_requests: 0,
        enable_model_restriction: false,
        restricted_models: Vec::new(),
        enable_client_restriction: false,
        allowed_clients: Vec::new(),
        daily_cost_limit: NanoUsd::ZERO,
        budgets: KeyBudgets {
            weekly_reset_day: 1,
            ..KeyBudgets::default()
        },
        tags: Vec::new(),
        created_at: now,
        updated_at: now,
        last_used_at: None,
        created_by: String::new(),
        key_hint: String::new(),
        deleted_at: None,
        deleted_by: None,
        old_secret_valid_until: None,
    };
    let mut defaults = key_changes(None, Some(&key));
    defaults.remove("name");
    defaults
});

/// Appends one entry (a failure to write it is logged, not returned: the change is made).
pub async fn record(
    state: &AppState,
    actor: &Actor,
    action: &str,
    key_id: Option<KeyId>,
    mut changes: Changes,
) {
    if CREATIONS.contains(&action) {
        changes.retain(|field, values| CREATION_DEFAULTS.get(field) != Some(values));
    }
    state
        .keys
        .record_audit(NewAuditEntry {
            actor,
            action,
            key_id,
            changes,
        })
        .await;
}

const MAX_LIMIT: u64 = 500;

pub fn parse_query(pairs: &Pairs) -> ApiResult<AuditQuery> {
    pairs.only(&["keyId", "actor", "action", "limit", "before"])?;
    let text = |name: &str| {
        pairs
            .get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let key_id = match text("keyId") {
        None => None,
        Some(id) => {
            Some(KeyId::parse(&id).ok_or_else(|| ApiError::invalid("keyId", "is not a key id"))?)
        }
    };
    let before = text("before");
    if before.as_deref().is_some_and(|b| !is_entry_id(b)) {
        return Err(ApiError::invalid(
            "before",
            "must be the next value of an earlier page",
        ));
    }
    for name in ["actor", "action"] {
        if text(name).is_some_and(|v| v.chars().count() > 64) {
            return Err(ApiError::invalid(name, "must be at most 64 characters"));
        }
    }
    Ok(AuditQuery {
        key_id,
        actor: text("actor"),
        action: text("action"),
        limit: pairs.number("limit", 50, 1, MAX_LIMIT)? as usize,
        before,
    })
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EntryJson<'a> {
    id: &'a str,
    #[schema(format = DateTime)]
    at: String,
    actor: &'a str,
    actor_ip: Option<&'a str>,
    action: &'a str,
    key_id: Option<&'a str>,
    /// `{field: [before, after]}`.
    #[schema(value_type = Object)]
    changes: &'a Changes,
}

fn entry_json(entry: &AuditEntry) -> EntryJson<'_> {
    EntryJson {
        id: &entry.id,
        at: time(entry.at),
        actor: &entry.actor,
        actor_ip: entry.actor_ip.as_deref(),
        action: &entry.action,
        key_id: entry.key_id.as_deref(),
        changes: &entry.changes,
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct AuditBody<'a> {
    entries: Vec<EntryJson<'a>>,
    next: Option<String>,
}

/// Read the audit log
///
/// Newest first; `next` is the `before` of the next page (null at the end).
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit",
    operation_id = "listAuditEntries",
    tag = "audit",
    params(
        ("keyId" = Option<String>, Query, description = "Only entries about this key"),
        ("actor" = Option<String>, Query, description = "Only entries by this admin (`admin-api` for the admin token)"),
        ("action" = Option<String>, Query, description = "Only entries of this action (`create`, `update`, `delete`, ...)"),
        ("limit" = Option<u64>, Query, description = "Entries per page (default 50)", minimum = 1, maximum = 500),
        ("before" = Option<String>, Query, description = "The `next` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of entries", body = AuditBody),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
    )
)]
async fn route_get_audit_api(
    State(state): State<AppState>,
    query: QueryPairs,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let query = parse_query(&query)?;
    let (entries, next) = read_entries(&state, &query).await?;
    let body = AuditBody {
        entries: entries.iter().map(entry_json).collect(),
        next,
    };
    Ok(Json(&body).into_response())
}

/// Entries newest first with a creation's default fields put back (see `CREATION_DEFAULTS`),
/// and the cursor of the next page.
pub async fn read_entries(
    state: &AppState,
    query: &AuditQuery,
) -> ServiceResult<(Vec<AuditEntry>, Option<String>)> {
    let (mut entries, next) = state.keys.audit_entries(query).await?;
    for entry in &mut entries {
        // A recorded creation always names the key; one rebuilt after the log dropped it
        // (see `store::audit`) has no changes to complete.
        if CREATIONS.contains(&entry.action.as_str()) && entry.changes.contains_key("name") {
            for (field, values) in CREATION_DEFAULTS.iter() {
                entry
                    .changes
                    .entry(field.clone())
                    .or_insert_with(|| values.clone());
            }
        }
    }
    Ok((entries, next))
}

/// The expiry sweep run by an admin: one entry with how many keys it disabled.
pub async fn record_disable_expired(state: &AppState, actor: &Actor, disabled: usize) {
    let mut changes = Changes::new();
    changes.insert(
        "disabledKeys".into(),
        [serde_json::Value::Null, serde_json::Value::from(disabled)],
    );
    record(state, actor, "disable-expired", None, changes).await;
}

/// Releasing a key's leases by hand: one entry with how many it freed.
pub async fn record_released_leases(state: &AppState, actor: &Actor, key_id: KeyId, released: u64) {
    let mut changes = Changes::new();
    changes.insert(
        "releasedLeases".into(),
        [serde_json::Value::Null, serde_json::Value::from(released)],
    );
    record(state, actor, "release-leases", Some(key_id), changes).await;
}
