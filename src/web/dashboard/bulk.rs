//! Bulk actions on the keys a list page's checkboxes selected: enable, disable, delete, add or
//! remove a tag. The list posts the selection here; a confirmation page names how many keys
//! the action touches; its form applies it and redirects (post/redirect/get).

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::flash::Flash;
use super::format::plural;
use crate::domain::clients::ClientMatcher;
use crate::domain::ids::KeyId;
use crate::domain::key::KeySnapshot;
use crate::domain::key_fields::{KeyChanges, KeyFieldsInput, Patch};
use crate::domain::role::AdminRole;
use crate::service::keys::MAX_BATCH;
use crate::web::access::{post, Access, RouteSpec};
use crate::web::audit::{admin_actor, key_changes, record};
use crate::web::auth::AdminForm;
use crate::web::error::{PageError, PageResult};
use crate::web::extract::FormPairs;
use crate::web::AppState;

/// Bulk actions change keys: the operator role.
pub fn routes() -> Vec<RouteSpec> {
    const WRITE: Access = Access::Page(AdminRole::Operator);
    vec![
        post("/keys/bulk", WRITE, route_post_bulk),
        post("/keys/bulk/apply", WRITE, route_post_bulk_apply),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BulkAction {
    Enable,
    Disable,
    Delete,
    AddTag,
    RemoveTag,
}

impl BulkAction {
    fn parse(text: &str) -> Option<BulkAction> {
        Some(match text {
            "enable" => BulkAction::Enable,
            "disable" => BulkAction::Disable,
            "delete" => BulkAction::Delete,
            "add-tag" => BulkAction::AddTag,
            "remove-tag" => BulkAction::RemoveTag,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            BulkAction::Enable => "enable",
            BulkAction::Disable => "disable",
            BulkAction::Delete => "delete",
            BulkAction::AddTag => "add-tag",
            BulkAction::RemoveTag => "remove-tag",
        }
    }

    fn needs_tag(self) -> bool {
        matches!(self, BulkAction::AddTag | BulkAction::RemoveTag)
    }
}

/// What a bulk form asks for, checked.
struct BulkRequest {
    action: BulkAction,
    ids: Vec<KeyId>,
    /// The tag as the key fields' rules normalise it; empty unless the action needs one.
    tag: String,
}

fn bad(message: impl Into<String>) -> PageError {
    PageError::BadRequest(message.into())
}

fn parse_request(
    form: &FormPairs,
    clients: &ClientMatcher,
) -> PageResult<Result<BulkRequest, String>> {
    let action = BulkAction::parse(form.get("action").unwrap_or(""))
        .ok_or_else(|| bad("action: must be enable, disable, delete, add-tag or remove-tag"))?;
    let mut ids = Vec::new();
    for id in form.all("ids") {
        let id = KeyId::parse(&id).ok_or_else(|| bad("ids: not a key id"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Ok(Err("Select at least one key first.".into()));
    }
    if ids.len() > MAX_BATCH {
        return Ok(Err(format!("Select at most {MAX_BATCH} keys at once.")));
    }
    let tag = if action.needs_tag() {
        let typed = form.get("tag").unwrap_or("").trim().to_string();
        // Checked by the key fields' own rules, so a bulk tag obeys what the edit form does.
        let input = KeyFieldsInput {
            tags: Patch::Value(vec![typed.clone()]),
            ..KeyFieldsInput::default()
        };
        match input.validate(clients) {
            Ok(KeyChanges {
                tags: Some(tags), ..
            }) if tags.len() == 1 => tags[0].clone(),
            _ => return Ok(Err(format!("“{typed}” is not a valid tag."))),
        }
    } else {
        String::new()
    };
    Ok(Ok(BulkRequest { action, ids, tag }))
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/keys_bulk.html")]
struct ConfirmPage {
    csrf: String,
    flashes: Vec<Flash>,
    /// `Disable 3 keys?`
    question: String,
    /// The confirm button: the question without its question mark.
    confirm: String,
    action: &'static str,
    tag: String,
    ids: Vec<String>,
    names: Vec<String>,
    danger: bool,
}

fn question(action: BulkAction, count: usize, tag: &str) -> String {
    let keys = plural(count as u64, "key", "keys");
    match action {
        BulkAction::Enable => format!("Enable {keys}?"),
        BulkAction::Disable => format!("Disable {keys}?"),
        BulkAction::Delete => format!("Delete {keys}?"),
        BulkAction::AddTag => format!("Add the tag “{tag}” to {keys}?"),
        BulkAction::RemoveTag => format!("Remove the tag “{tag}” from {keys}?"),
    }
}

/// The selection from the list: shows what will happen to how many keys, and asks.
async fn route_post_bulk(
    State(state): State<AppState>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult<Response> {
    let request = match parse_request(&form, state.keys.clients())? {
        Ok(request) => request,
        Err(message) => {
            Flash::info(message).store(&admin.session).await?;
            return Ok(Redirect::to("/keys").into_response());
        }
    };
    let keys = state.keys.snapshots(&request.ids).await?;
    Ok(ConfirmPage {
        csrf: admin.csrf,
        flashes: Vec::new(),
        question: question(request.action, keys.len(), &request.tag),
        confirm: question(request.action, keys.len(), &request.tag)
            .trim_end_matches('?')
            .to_string(),
        action: request.action.as_str(),
        tag: request.tag,
        ids: keys.iter().map(|k| k.key.id.to_string()).collect(),
        names: keys.iter().map(|k| k.key.name.clone()).collect(),
        danger: request.action == BulkAction::Delete,
    }
    .into_response())
}

/// Applies the confirmed action, records each changed key, and goes back to the list.
async fn route_post_bulk_apply(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult<Redirect> {
    let request = match parse_request(&form, state.keys.clients())? {
        Ok(request) => request,
        Err(message) => {
            Flash::info(message).store(&admin.session).await?;
            return Ok(Redirect::to("/keys"));
        }
    };
    let before = state.keys.snapshots(&request.ids).await?;
    let keys = &state.keys;
    let (changed, audit_action): (Vec<KeyId>, &str) = match request.action {
        BulkAction::Delete => (
            keys.delete_batch(&request.ids, &admin.username).await?,
            "batch-delete",
        ),
        BulkAction::Enable | BulkAction::Disable => {
            let changes = KeyChanges {
                is_active: Some(request.action == BulkAction::Enable),
                ..KeyChanges::default()
            };
            let (_, misses) = keys.update_batch(&request.ids, &changes).await?;
            let changed = request
                .ids
                .iter()
                .filter(|id| !misses.iter().any(|(missed, _)| missed == *id))
                .copied()
                .collect();
            (changed, "batch-update")
        }
        BulkAction::AddTag | BulkAction::RemoveTag => (
            retag(&state, &before, request.action, &request.tag).await?,
            "batch-update",
        ),
    };
    let after = keys.snapshots(&changed).await?;
    let actor = admin_actor(&admin.username, peer);
    for now in &after {
        let was = before
            .iter()
            .find(|b| b.key.id == now.key.id)
            .map(|b| &b.key);
        let changes = key_changes(was, Some(&now.key));
        record(&state, &actor, audit_action, Some(now.key.id), changes).await;
    }
    let done = match request.action {
        BulkAction::Enable => "Enabled",
        BulkAction::Disable => "Disabled",
        BulkAction::Delete => "Deleted",
        BulkAction::AddTag => "Tagged",
        BulkAction::RemoveTag => "Untagged",
    };
    Flash::info(format!(
        "{done} {}.",
        plural(changed.len() as u64, "key", "keys")
    ))
    .store(&admin.session)
    .await?;
    Ok(Redirect::to("/keys"))
}

/// Adds or removes one tag on each key (those whose tags change), keeping the others' tags.
async fn retag(
    state: &AppState,
    keys: &[KeySnapshot],
    action: BulkAction,
    tag: &str,
) -> PageResult<Vec<KeyId>> {
    let mut changed = Vec::new();
    for snapshot in keys {
        let mut tags = snapshot.key.tags.clone();
        let has = tags.iter().any(|t| t == tag);
        match action {
            BulkAction::AddTag if !has => tags.push(tag.to_string()),
            BulkAction::RemoveTag if has => tags.retain(|t| t != tag),
            _ => continue,
        }
        let changes = KeyChanges {
            tags: Some(tags),
            ..KeyChanges::default()
        };
        if state.keys.update(snapshot.key.id, &changes).await? {
            changed.push(snapshot.key.id);
        }
    }
    Ok(changed)
}
