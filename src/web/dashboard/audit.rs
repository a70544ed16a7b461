//! The `/audit` page: the audit log with filters (key, admin, action) and paging to older
//! entries; each key's page links here as its history.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use super::flash::Flash;
use super::format::time;
use crate::domain::role::AdminRole;
use crate::web::access::{get, Access, RouteSpec};
use crate::web::audit::{parse_query, read_entries};
use crate::web::auth::SessionAdmin;
use crate::web::error::{ApiError, PageError, PageResult};
use crate::web::extract::QueryPairs;
use crate::web::AppState;

/// Reading the audit log needs only the viewer role.
pub fn routes() -> Vec<RouteSpec> {
    vec![get(
        "/audit",
        Access::Page(AdminRole::Viewer),
        route_get_audit_page,
    )]
}

/// One entry as the page shows it.
struct EntryView {
    at: String,
    actor: String,
    actor_ip: String,
    action: String,
    key_id: String,
    /// `field: before → after`.
    changes: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/audit.html")]
struct AuditPage {
    csrf: String,
    flashes: Vec<Flash>,
    entries: Vec<EntryView>,
    key_id: String,
    actor: String,
    action: String,
    /// The link to older entries, empty on the last page.
    older: String,
}

fn shown(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "—".to_string(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

async fn route_get_audit_page(
    State(state): State<AppState>,
    admin: SessionAdmin,
    pairs: QueryPairs,
) -> PageResult<AuditPage> {
    let query = parse_query(&pairs).map_err(|error| match error {
        ApiError::Invalid(fields) => PageError::BadRequest(fields.first().to_string()),
        _ => PageError::BadRequest("The filters are not valid.".into()),
    })?;
    let (entries, next) = read_entries(&state, &query).await?;
    let zone = state.keys.zone();
    let filter = |name: &str| pairs.get(name).unwrap_or("").trim().to_string();
    let (key_id, actor, action) = (filter("keyId"), filter("actor"), filter("action"));
    let older = match next {
        Some(next) => {
            let pairs = [
                ("keyId", key_id.as_str()),
                ("actor", actor.as_str()),
                ("action", action.as_str()),
                ("before", next.as_str()),
            ];
            let kept: Vec<(&str, &str)> =
                pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
            format!(
                "/audit?{}",
                serde_urlencoded::to_string(kept).unwrap_or_default()
            )
        }
        None => String::new(),
    };
    Ok(AuditPage {
        csrf: admin.csrf,
        flashes: Flash::take_all(&admin.session).await?,
        entries: entries
            .into_iter()
            .map(|entry| EntryView {
                at: time(entry.at, zone),
                actor: entry.actor,
                actor_ip: entry.actor_ip.unwrap_or_default(),
                action: entry.action,
                key_id: entry.key_id.unwrap_or_default(),
                changes: entry
                    .changes
                    .iter()
                    .map(|(field, [old, new])| format!("{field}: {} → {}", shown(old), shown(new)))
                    .collect(),
            })
            .collect(),
        key_id,
        actor,
        action,
        older,
    })
}
