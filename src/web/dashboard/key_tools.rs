//! Key page tools: extend the expiry (with presets) and release stuck leases.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::Redirect;

use super::flash::Flash;
use super::format::plural;
use crate::domain::ids::KeyId;
use crate::domain::role::AdminRole;
use crate::service::{ExtendOutcome, Extension};
use crate::web::access::{post, Access, RouteSpec};
use crate::web::audit::{admin_actor, key_changes, record, record_released_leases};
use crate::web::auth::AdminForm;
use crate::web::error::{PageError, PageResult};
use crate::web::AppState;

pub fn routes() -> Vec<RouteSpec> {
    const WRITE: Access = Access::Page(AdminRole::Operator);
    vec![
        post("/keys/{id}/extend", WRITE, route_post_extend),
        post(
            "/keys/{id}/leases/release",
            WRITE,
            route_post_release_leases,
        ),
    ]
}

const MAX_EXTEND_DAYS: u64 = 3650;

/// Extends from the later of now and the current expiry, by the chosen number of days;
/// "Also enable" re-enables the key in the same step.
async fn route_post_extend(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult<Redirect> {
    let id = KeyId::parse(&id).ok_or(PageError::NotFound)?;
    let days = form
        .get("days")
        .and_then(|d| d.trim().parse::<u64>().ok())
        .filter(|d| (1..=MAX_EXTEND_DAYS).contains(d))
        .ok_or_else(|| {
            PageError::BadRequest(format!(
                "days: choose a number of days from 1 to {MAX_EXTEND_DAYS}"
            ))
        })?;
    let enable = form.get("enable") == Some("true");
    let extension = Extension::By(chrono::Duration::days(days as i64));
    // Read first for the audit entry's "before" values.
    let before = state.keys.get(id).await?;
    let outcome = state.keys.extend(id, extension, enable).await?;
    if outcome == ExtendOutcome::Extended {
        let after = state.keys.get(id).await?;
        let changes = key_changes(
            before.as_ref().map(|b| &b.key),
            after.as_ref().map(|a| &a.key),
        );
        let actor = admin_actor(&admin.username, peer);
        record(&state, &actor, "extend", Some(id), changes).await;
    }
    let message = match outcome {
        ExtendOutcome::NotFound => return Err(PageError::NotFound),
        ExtendOutcome::NotActivated => {
            "Not extended: the key is in activation mode and not used yet; its validity starts at its first use.".to_string()
        }
        ExtendOutcome::Extended => format!(
            "Extended by {}{}.",
            plural(days, "day", "days"),
            if enable { " and enabled" } else { "" }
        ),
    };
    Flash::info(message).store(&admin.session).await?;
    Ok(Redirect::to(&format!("/keys/{id}")))
}

/// Frees every slot of the key (the leases a crashed relay left behind).
async fn route_post_release_leases(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm,
) -> PageResult<Redirect> {
    let id = KeyId::parse(&id).ok_or(PageError::NotFound)?;
    let released = state
        .keys
        .release_all_leases(id)
        .await?
        .ok_or(PageError::NotFound)?;
    let actor = admin_actor(&admin.username, peer);
    record_released_leases(&state, &actor, id, released).await;
    Flash::info(format!("Released {}.", plural(released, "lease", "leases")))
        .store(&admin.session)
        .await?;
    Ok(Redirect::to(&format!("/keys/{id}")))
}
