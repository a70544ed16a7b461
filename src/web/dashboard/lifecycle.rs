//! Key pages for a key's life after creation: restore a deleted key, erase it for good, and
//! regenerate its secret (the new one shown once, as for a new key).

use askama::Template;
use askama_web::WebTemplate;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Redirect};
use serde::{Deserialize, Serialize};

use super::flash::Flash;
use super::format::plural;
use super::key_view::{load_key, KeyView};
use crate::domain::role::AdminRole;
use crate::service::keys::MAX_GRACE_SECS;
use crate::web::access::{get, post, Access, RouteSpec};
use crate::web::audit::{admin_actor, key_changes, record};
use crate::web::auth::{AdminForm, SessionAdmin, SessionKey};
use crate::web::error::{PageError, PageResult};
use crate::web::lifecycle_api::regenerate_changes;
use crate::web::AppState;

/// Restoring, erasing and regenerating change keys: the operator role.
pub fn routes() -> Vec<RouteSpec> {
    const WRITE: Access = Access::Page(AdminRole::Operator);
    vec![
        post("/keys/{id}/restore", WRITE, route_post_restore),
        get("/keys/{id}/erase", WRITE, route_get_erase),
        post("/keys/{id}/erase", WRITE, route_post_erase),
        post("/keys/{id}/regenerate", WRITE, route_post_regenerate),
        get("/keys/{id}/regenerated", WRITE, route_get_regenerated),
    ]
}

const DELETED_VIEW: &str = "/keys?status=deleted";

async fn route_post_restore(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm,
) -> PageResult<Redirect> {
    let snapshot = load_key(&state, &id).await?;
    let text = match state.keys.restore(snapshot.key.id).await? {
        Some(restored) => {
            let audit = key_changes(Some(&snapshot.key), Some(&restored.key));
            let actor = admin_actor(&admin.username, peer);
            record(&state, &actor, "restore", Some(restored.key.id), audit).await;
            format!("Restored “{}”; its secret works again.", restored.key.name)
        }
        None => format!("“{}” is not deleted.", snapshot.key.name),
    };
    Flash::info(text).store(&admin.session).await?;
    Ok(Redirect::to(&format!("/keys/{id}")))
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/key_erase.html")]
struct ErasePage {
    csrf: String,
    flashes: Vec<Flash>,
    key: KeyView,
    requests: String,
}

async fn route_get_erase(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(id): Path<String>,
) -> PageResult<ErasePage> {
    let snapshot = load_key(&state, &id).await?;
    Ok(ErasePage {
        csrf: admin.csrf,
        flashes: Vec::new(),
        key: KeyView::new(&snapshot, state.keys.zone()),
        requests: plural(snapshot.total.requests, "request", "requests"),
    })
}

async fn route_post_erase(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm,
) -> PageResult<Redirect> {
    let snapshot = load_key(&state, &id).await?;
    if state.keys.erase(snapshot.key.id).await? {
        let audit = key_changes(Some(&snapshot.key), None);
        let actor = admin_actor(&admin.username, peer);
        record(&state, &actor, "erase", Some(snapshot.key.id), audit).await;
        Flash::info(format!("Erased “{}” and all its usage.", snapshot.key.name))
            .store(&admin.session)
            .await?;
    }
    Ok(Redirect::to(DELETED_VIEW))
}

/// A regenerated secret waiting in the admin's own session for the one page that shows it.
#[derive(Serialize, Deserialize)]
struct RegeneratedSecret {
    key_id: String,
    secret: String,
}

/// Regenerates, then redirects (post/redirect/get), so a reload cannot roll the key again.
async fn route_post_regenerate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult {
    let snapshot = load_key(&state, &id).await?;
    let grace_secs = form
        .get("graceSeconds")
        .unwrap_or("0")
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|secs| *secs <= MAX_GRACE_SECS)
        .ok_or_else(|| {
            PageError::BadRequest(format!(
                "graceSeconds: must be between 0 and {MAX_GRACE_SECS}"
            ))
        })?;
    let Some((_, secret)) = state.keys.regenerate(snapshot.key.id, grace_secs).await? else {
        Flash::info(format!(
            "“{}” is deleted; restore it before regenerating its secret.",
            snapshot.key.name
        ))
        .store(&admin.session)
        .await?;
        return Ok(Redirect::to(&format!("/keys/{id}")).into_response());
    };
    let actor = admin_actor(&admin.username, peer);
    let audit = regenerate_changes(grace_secs);
    record(&state, &actor, "regenerate", Some(snapshot.key.id), audit).await;
    SessionKey::RegeneratedSecret
        .insert(
            &admin.session,
            RegeneratedSecret {
                key_id: id.clone(),
                secret,
            },
        )
        .await?;
    Ok(Redirect::to(&format!("/keys/{id}/regenerated")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/key_regenerated.html")]
struct RegeneratedPage {
    csrf: String,
    flashes: Vec<Flash>,
    key: KeyView,
    secret: String,
}

/// Shows the new secret once: the session gives it up on the first visit.
async fn route_get_regenerated(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(id): Path<String>,
) -> PageResult {
    let snapshot = load_key(&state, &id).await?;
    let waiting: Option<RegeneratedSecret> =
        SessionKey::RegeneratedSecret.get(&admin.session).await?;
    let secret = match waiting {
        Some(new) if new.key_id == id => {
            SessionKey::RegeneratedSecret
                .remove::<RegeneratedSecret>(&admin.session)
                .await?;
            new.secret
        }
        _ => {
            Flash::info("The new secret was shown once, right after it was made, and cannot be shown again.")
                .store(&admin.session)
                .await?;
            return Ok(Redirect::to(&format!("/keys/{id}")).into_response());
        }
    };
    Ok(RegeneratedPage {
        csrf: admin.csrf,
        flashes: vec![Flash::info(format!(
            "Regenerated the secret of “{}”.",
            snapshot.key.name
        ))],
        key: KeyView::new(&snapshot, state.keys.zone()),
        secret,
    }
    .into_response())
}
