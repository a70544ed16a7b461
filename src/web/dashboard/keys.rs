//! Key pages: the live list, detail, enable/disable, delete, and the expiry sweep button.
//! Creating and editing are in `key_form`; what a page shows of a key is in `key_view`.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use chrono::Utc;

use super::charts::{parse_days, UsageCharts};
use super::flash::Flash;
use super::format::{count, plural};
use super::key_requests::{parse_log_query, HourlyCharts, RecentRequests};
use super::key_view::{load_key, KeyView, LiveKey, LiveKeys, PageLink};
use crate::domain::ids::KeyId;
use crate::domain::key_fields::KeyChanges;
use crate::domain::role::AdminRole;
use crate::web::access::{get, post, Access, RouteSpec};
use crate::web::audit::{admin_actor, key_changes, record, record_disable_expired};
use crate::web::auth::{AdminForm, SessionAdmin};
use crate::web::error::{PageError, PageResult};
use crate::web::extract::{FormPairs, QueryPairs};
use crate::web::list_params::{ListParams, PageSizes};
use crate::web::AppState;

pub fn routes() -> Vec<RouteSpec> {
    const READ: Access = Access::Page(AdminRole::Viewer);
    const WRITE: Access = Access::Page(AdminRole::Operator);
    vec![
        get("/keys", READ, route_get_keys),
        get("/keys/live", READ, route_get_live),
        post("/keys/disable-expired", WRITE, route_post_disable_expired),
        get("/keys/{id}", READ, route_get_key),
        post("/keys/{id}/active", WRITE, route_post_active),
        get("/keys/{id}/delete", WRITE, route_get_delete_key),
        post("/keys/{id}/delete", WRITE, route_post_delete_key),
    ]
}

const PAGE_SIZE_CHOICES: [u64; 3] = [20, 50, 100];
const PAGE_SIZES: PageSizes = PageSizes::OneOf {
    default: 20,
    sizes: &PAGE_SIZE_CHOICES,
};
/// Most rows one live refresh reads.
const MAX_LIVE_KEYS: usize = 100;

#[derive(Template, WebTemplate)]
#[template(path = "pages/keys.html")]
struct KeysPage {
    csrf: String,
    /// Whether the admin's role may change keys (the buttons are hidden otherwise; the routes
    /// refuse anyway).
    can_change_keys: bool,
    flashes: Vec<Flash>,
    keys: Vec<KeyView>,
    total: u64,
    expired_active: usize,
    tags: Vec<(String, u64)>,
    q: String,
    tag: String,
    status: String,
    sort: String,
    order: String,
    per_page: u64,
    page_sizes: [u64; 3],
    pages: Vec<PageLink>,
    filtered: bool,
    /// `Showing 21–25 of 25`, under the list.
    showing: String,
}

impl KeysPage {
    /// The list sorted by `column`: the other order when it is already sorted by it, else its
    /// natural first order (names A→Z, the rest newest or highest first). Keeps the filters.
    fn sort_href(&self, column: &str) -> String {
        let order = match (self.sort == column, self.order.as_str()) {
            (true, "asc") => "desc",
            (true, _) => "asc",
            (false, _) if column == "name" => "asc",
            (false, _) => "desc",
        };
        let mut pairs = vec![("sort", column), ("order", order)];
        for (name, value) in [("q", &self.q), ("tag", &self.tag), ("status", &self.status)] {
            if !value.is_empty() {
                pairs.push((name, value));
            }
        }
        let per_page = self.per_page.to_string();
        if self.per_page != PAGE_SIZE_CHOICES[0] {
            pairs.push(("perPage", &per_page));
        }
        format!(
            "/keys?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    }

    /// The CSV export of every key the current filters and sort select (all pages).
    fn csv_href(&self) -> String {
        let mut pairs = vec![("sort", self.sort.as_str()), ("order", self.order.as_str())];
        for (name, value) in [("q", &self.q), ("tag", &self.tag), ("status", &self.status)] {
            if !value.is_empty() {
                pairs.push((name, value));
            }
        }
        format!(
            "/api/v1/admin/keys.csv?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    }

    /// The `aria-sort` of a sortable column's header.
    fn aria_sort(&self, column: &str) -> &'static str {
        match (self.sort == column, self.order.as_str()) {
            (false, _) => "none",
            (true, "asc") => "ascending",
            (true, _) => "descending",
        }
    }
}

async fn route_get_keys(
    State(state): State<AppState>,
    admin: SessionAdmin,
    query: QueryPairs,
) -> PageResult<KeysPage> {
    let list = ListParams::parse(&query, PAGE_SIZES)?;
    let (total, snapshots) = state.keys.list(&list.query).await?;
    let zone = state.keys.zone();
    let param = |name: &str| query.get(name).unwrap_or("").to_string();
    let last_page = total.div_ceil(list.per_page).max(1);
    let showing = format!(
        "Showing {}–{} of {}",
        count(list.query.offset + 1),
        count(list.query.offset + snapshots.len() as u64),
        count(total)
    );
    Ok(KeysPage {
        showing,
        can_change_keys: admin.role.allows(AdminRole::Operator),
        csrf: admin.csrf,
        flashes: Flash::take_all(&admin.session).await?,
        keys: snapshots.iter().map(|s| KeyView::new(s, zone)).collect(),
        total,
        expired_active: state.keys.count_expired_active().await?,
        tags: state.keys.tags().await?,
        filtered: list.is_filtered(),
        q: param("q"),
        tag: param("tag"),
        status: param("status"),
        sort: list.query.sort.as_str().to_string(),
        order: if list.query.descending { "desc" } else { "asc" }.to_string(),
        per_page: list.per_page,
        page_sizes: PAGE_SIZE_CHOICES,
        pages: PageLink::around(&query, list.page, last_page),
    })
}

/// Live values for the rows on screen; polled by the list page.
async fn route_get_live(
    State(state): State<AppState>,
    _admin: SessionAdmin,
    query: QueryPairs,
) -> PageResult<Response> {
    let ids: Vec<KeyId> = query
        .get("ids")
        .unwrap_or("")
        .split(',')
        .filter_map(KeyId::parse)
        .take(MAX_LIVE_KEYS)
        .collect();
    let snapshots = state.keys.snapshots(&ids).await?;
    let keys: BTreeMap<String, LiveKey> = snapshots
        .iter()
        .map(|s| (s.key.id.to_string(), LiveKey::new(s)))
        .collect();
    Ok(Json(LiveKeys { keys }).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/key_detail.html")]
struct KeyDetailPage {
    csrf: String,
    can_change_keys: bool,
    flashes: Vec<Flash>,
    key: KeyView,
    charts: UsageCharts,
    requests: RecentRequests,
    hourly: HourlyCharts,
}

async fn route_get_key(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(id): Path<String>,
    query: QueryPairs,
) -> PageResult<KeyDetailPage> {
    let snapshot = load_key(&state, &id).await?;
    let days = parse_days(&query)?;
    let log_query = parse_log_query(&query)?;
    let id = snapshot.key.id;
    let usage = state.keys.key_usage_by_day(id, days).await?;
    let zone = state.keys.zone();
    // A key erased since it was read shows an empty log rather than an error.
    let log = state.keys.request_log(id, &log_query).await?;
    let hours = state.keys.usage_hours(id).await?;
    Ok(KeyDetailPage {
        requests: RecentRequests::new(
            id,
            days,
            log_query.before.is_none(),
            &log.unwrap_or_default(),
            zone,
        ),
        hourly: HourlyCharts::new(&hours, zone),
        can_change_keys: admin.role.allows(AdminRole::Operator),
        csrf: admin.csrf,
        flashes: Flash::take_all(&admin.session).await?,
        key: KeyView::new(&snapshot, state.keys.zone()),
        charts: UsageCharts::new(days, &usage)
            .flag_fallback(|model| state.keys.priced_by_fallback(model)),
    })
}

/// Where to go back to after a row action (`/keys` when the form names none): a path on this
/// site. Checked before anything changes, so a bad target is refused instead of turning a saved
/// change into an error page, and cannot send the admin to another site.
fn return_to(form: &FormPairs) -> Result<String, PageError> {
    match form.get("return") {
        None | Some("") => Ok("/keys".to_string()),
        Some(path) if is_local_path(path) => Ok(path.to_string()),
        Some(_) => Err(PageError::BadRequest(
            "return: must be a path on this site: one leading `/`, printable ASCII, no `\\`".into(),
        )),
    }
}

/// A same-site absolute path. `//host` and `/\host` are other sites to a browser, which also
/// drops tabs and line breaks from URLs, so control characters could hide either; they also
/// cannot go in a `Location` header.
fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

/// Sets the active flag to what the button says (not "flip"), so a double click or two
/// admins at once cannot undo each other.
async fn route_post_active(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult<Redirect> {
    let back = return_to(&form)?;
    let active = match form.get("isActive") {
        Some("true") => true,
        Some("false") => false,
        _ => {
            return Err(PageError::BadRequest(
                "isActive: must be true or false".into(),
            ))
        }
    };
    let id = KeyId::parse(&id).ok_or(PageError::NotFound)?;
    let changes = KeyChanges {
        is_active: Some(active),
        ..KeyChanges::default()
    };
    let before = state.keys.get(id).await?;
    if !state.keys.update(id, &changes).await? {
        return Err(PageError::NotFound);
    }
    let updated = state.keys.get(id).await?.ok_or(PageError::NotFound)?;
    let audit = key_changes(before.as_ref().map(|b| &b.key), Some(&updated.key));
    record(
        &state,
        &admin_actor(&admin.username, peer),
        "update",
        Some(id),
        audit,
    )
    .await;
    let verb = if active { "Enabled" } else { "Disabled" };
    Flash::info(format!("{verb} “{}”.", updated.key.name))
        .store(&admin.session)
        .await?;
    Ok(Redirect::to(&back))
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/key_delete.html")]
struct DeletePage {
    csrf: String,
    flashes: Vec<Flash>,
    key: KeyView,
    /// `1 request`, `1,200 requests`.
    requests: String,
    /// When the background job erases a deleted key: `after 30 days`.
    retention: String,
}

async fn route_get_delete_key(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(id): Path<String>,
) -> PageResult<DeletePage> {
    let snapshot = load_key(&state, &id).await?;
    Ok(DeletePage {
        csrf: admin.csrf,
        flashes: Vec::new(),
        key: KeyView::new(&snapshot, state.keys.zone()),
        requests: plural(snapshot.total.requests, "request", "requests"),
        retention: match state.config.deleted_retention.num_days() {
            0 => "soon".to_string(),
            days => format!("after {}", plural(days as u64, "day", "days")),
        },
    })
}

async fn route_post_delete_key(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    AdminForm { admin, .. }: AdminForm,
) -> PageResult<Redirect> {
    let snapshot = load_key(&state, &id).await?;
    if state.keys.delete(snapshot.key.id, &admin.username).await? {
        let after = state.keys.get(snapshot.key.id).await?;
        let audit = key_changes(Some(&snapshot.key), after.as_ref().map(|a| &a.key));
        let actor = admin_actor(&admin.username, peer);
        record(&state, &actor, "delete", Some(snapshot.key.id), audit).await;
        Flash::info(format!(
            "Deleted “{}”. It can be restored from the deleted keys.",
            snapshot.key.name
        ))
        .store(&admin.session)
        .await?;
    }
    Ok(Redirect::to("/keys"))
}

async fn route_post_disable_expired(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AdminForm { admin, .. }: AdminForm,
) -> PageResult<Redirect> {
    let disabled = state.keys.disable_expired(Utc::now()).await?;
    record_disable_expired(&state, &admin_actor(&admin.username, peer), disabled).await;
    let text = match disabled {
        0 => "No expired keys were active.".to_string(),
        n => format!(
            "Disabled {}.",
            plural(n as u64, "expired key", "expired keys")
        ),
    };
    Flash::info(text).store(&admin.session).await?;
    Ok(Redirect::to("/keys"))
}
