//! Key pages: the live list, create (with the one-time secret), detail, edit, enable/disable,
//! delete, and the expiry sweep button.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;

use super::charts::UsageCharts;
use super::format::{
    count, countdown, expiry, minutes, optional_relative, optional_time, percent, plural, time,
    tokens, usd,
};
use super::forms::{FormPairs, KeyFormValues};
use super::session::{take_flashes, Flash, SessionAdmin};
use super::{render, PageError, PageResult};
use crate::domain::ids::KeyId;
use crate::domain::key::KeySnapshot;
use crate::domain::key_fields::{KeyChanges, ACCOUNT_FIELDS};
use crate::domain::timezone::Zone;
use crate::domain::window::remaining_secs;
use crate::web::admin_api::parse_list_query;
use crate::web::extract::QueryPairs;
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/keys", get(route_get_keys).post(route_post_key))
        .route("/keys/live", get(route_get_live))
        .route("/keys/new", get(route_get_new_key))
        .route("/keys/disable-expired", post(route_post_disable_expired))
        .route("/keys/{id}", get(route_get_key))
        .route("/keys/{id}/created", get(route_get_created_key))
        .route(
            "/keys/{id}/edit",
            get(route_get_edit_key).post(route_post_edit_key),
        )
        .route("/keys/{id}/active", post(route_post_active))
        .route(
            "/keys/{id}/delete",
            get(route_get_delete_key).post(route_post_delete_key),
        )
}

pub const PAGE_SIZES: [u64; 3] = [20, 50, 100];
pub const ACCOUNT_LABELS: [&str; 5] = ["Claude", "Claude Console", "Gemini", "OpenAI", "Bedrock"];

/// One key as the list and detail pages show it, formatted.
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub status: &'static str,
    pub is_active: bool,
    pub permissions: &'static str,
    pub accounts: Vec<(&'static str, String)>,
    pub concurrency: u64,
    pub concurrency_limit: String,
    pub window_length: String,
    pub window_requests: String,
    pub window_request_limit: String,
    pub window_tokens: String,
    pub window_token_limit: String,
    pub window_seconds: String,
    pub window_text: String,
    pub daily_cost: String,
    pub daily_limit: Option<String>,
    pub daily_ratio: f64,
    pub daily_percent: String,
    pub total_requests: String,
    pub total_tokens: String,
    pub total_cost: String,
    pub monthly_cost: String,
    pub last_used: String,
    /// `3 min ago`, empty when never used.
    pub last_used_ago: String,
    pub expires: String,
    /// `in 12 days`, empty without an expiry.
    pub expires_in: String,
    pub created: String,
    pub created_by: String,
    pub restricted_models: Vec<String>,
    pub allowed_clients: Vec<String>,
    pub enable_model_restriction: bool,
    pub enable_client_restriction: bool,
}

fn limit_text(limit: u64, format: fn(u64) -> String) -> String {
    if limit == 0 {
        "∞".into()
    } else {
        format(limit)
    }
}

impl KeyView {
    pub fn new(snapshot: &KeySnapshot, zone: Zone) -> KeyView {
        let now = Utc::now();
        let key = &snapshot.key;
        let seconds = snapshot
            .window
            .and_then(|w| remaining_secs(w.end_ms, now.timestamp_millis()));
        let limit = key.daily_cost_limit;
        KeyView {
            id: key.id.to_string(),
            name: key.name.clone(),
            description: key.description.clone(),
            tags: key.tags.clone(),
            status: key.status(now).as_str(),
            is_active: key.is_active,
            permissions: key.permissions.as_str(),
            accounts: ACCOUNT_LABELS
                .iter()
                .zip(&key.accounts)
                .filter_map(|(label, id)| id.clone().map(|id| (*label, id)))
                .collect(),
            concurrency: snapshot.current_concurrency,
            concurrency_limit: limit_text(key.concurrency_limit, count),
            window_length: minutes(key.rate_limit_window_minutes),
            window_requests: count(snapshot.window.map_or(0, |w| w.requests)),
            window_request_limit: limit_text(key.rate_limit_requests, count),
            window_tokens: tokens(snapshot.window.map_or(0, |w| w.tokens)),
            window_token_limit: limit_text(key.token_limit, tokens),
            window_seconds: seconds.map(|s| s.to_string()).unwrap_or_default(),
            window_text: countdown(seconds),
            daily_cost: usd(snapshot.daily.cost),
            daily_limit: (limit.nanos() > 0).then(|| usd(limit)),
            daily_ratio: cost_ratio(snapshot),
            daily_percent: percent(cost_share(snapshot)),
            total_requests: count(snapshot.total.requests),
            total_tokens: tokens(snapshot.total.all_tokens),
            total_cost: usd(snapshot.total.cost),
            monthly_cost: usd(snapshot.monthly.cost),
            last_used: optional_time(key.last_used_at, zone, "never"),
            last_used_ago: optional_relative(key.last_used_at, now),
            expires: expiry(key.expires_at, zone),
            expires_in: optional_relative(key.expires_at, now),
            created: time(key.created_at, zone),
            created_by: key.created_by.clone(),
            restricted_models: key.restricted_models.clone(),
            allowed_clients: key.allowed_clients.clone(),
            enable_model_restriction: key.enable_model_restriction,
            enable_client_restriction: key.enable_client_restriction,
        }
    }

    pub fn has_window(&self) -> bool {
        self.window_length != "—"
    }
}

/// Today's cost as a share of the daily limit, for the bar (full at the limit).
fn cost_ratio(snapshot: &KeySnapshot) -> f64 {
    cost_share(snapshot).clamp(0.0, 1.0)
}

/// Today's cost as a share of the daily limit, past 1 when over it (0 without a limit).
fn cost_share(snapshot: &KeySnapshot) -> f64 {
    let limit = snapshot.key.daily_cost_limit.nanos();
    if limit <= 0 {
        return 0.0;
    }
    snapshot.daily.cost.nanos() as f64 / limit as f64
}

/// A link target in the list that keeps the current filters.
pub struct PageLink {
    pub label: String,
    pub href: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "pages/keys.html")]
struct KeysPage {
    csrf: String,
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
        if self.per_page != PAGE_SIZES[0] {
            pairs.push(("perPage", &per_page));
        }
        format!(
            "/keys?{}",
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
) -> PageResult {
    let (mut list, page, _) =
        parse_list_query(&query, 100).map_err(|e| PageError::BadRequest(e.to_string()))?;
    let per_page = match query.get("perPage").filter(|p| !p.is_empty()) {
        None => 20,
        Some(_) if PAGE_SIZES.contains(&list.count) => list.count,
        Some(_) => {
            return Err(PageError::BadRequest(
                "perPage: choose 20, 50 or 100".into(),
            ))
        }
    };
    list.count = per_page;
    list.offset = (page - 1) * per_page;
    let (total, snapshots) = state.keys.list(&list).await?;
    let zone = state.keys.zone();
    let param = |name: &str| query.get(name).unwrap_or("").to_string();
    let pages = page_links(&query, page, total.div_ceil(per_page).max(1));
    let first_shown = list.offset + 1;
    let last_shown = list.offset + snapshots.len() as u64;
    let showing = format!(
        "Showing {}–{} of {}",
        count(first_shown),
        count(last_shown),
        count(total)
    );
    Ok(render(&KeysPage {
        csrf: admin.csrf.clone(),
        flashes: take_flashes(&admin.session).await?,
        keys: snapshots.iter().map(|s| KeyView::new(s, zone)).collect(),
        total,
        expired_active: state.keys.count_expired_active().await?,
        tags: state.keys.tags().await?,
        filtered: list.search.is_some() || list.tag.is_some() || list.status.is_some(),
        q: param("q"),
        tag: param("tag"),
        status: param("status"),
        sort: list.sort.as_str().to_string(),
        order: if list.descending { "desc" } else { "asc" }.to_string(),
        per_page,
        page_sizes: PAGE_SIZES,
        pages,
        showing,
    }))
}

/// First, previous, a few around the current page, next, last; all keeping the filters.
fn page_links(query: &QueryPairs, page: u64, last: u64) -> Vec<PageLink> {
    let href = |p: u64| {
        let mut pairs: Vec<(String, String)> = query
            .0
            .iter()
            .filter(|(k, _)| k != "page")
            .cloned()
            .collect();
        pairs.push(("page".into(), p.to_string()));
        format!(
            "/keys?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(PageLink {
            label: "‹ Previous".into(),
            href: href(page - 1),
            current: false,
        });
    }
    let first = page.saturating_sub(2).max(1);
    let end = (page + 2).min(last);
    for p in first..=end {
        links.push(PageLink {
            label: p.to_string(),
            href: href(p),
            current: p == page,
        });
    }
    if page < last {
        links.push(PageLink {
            label: "Next ›".into(),
            href: href(page + 1),
            current: false,
        });
    }
    links
}

/// Live values for the rows on screen; polled by the list page.
async fn route_get_live(
    State(state): State<AppState>,
    _admin: SessionAdmin,
    query: QueryPairs,
) -> PageResult {
    let ids: Vec<KeyId> = query
        .get("ids")
        .unwrap_or("")
        .split(',')
        .filter_map(KeyId::parse)
        .take(100)
        .collect();
    let now = Utc::now();
    let snapshots = state.keys.snapshots(&ids).await?;
    let keys: serde_json::Map<String, serde_json::Value> = snapshots
        .iter()
        .map(|s| {
            let seconds = s
                .window
                .and_then(|w| remaining_secs(w.end_ms, now.timestamp_millis()));
            let live = json!({
                "currentConcurrency": s.current_concurrency,
                "currentWindowRequests": count(s.window.map_or(0, |w| w.requests)),
                "currentWindowTokens": tokens(s.window.map_or(0, |w| w.tokens)),
                "windowRemainingSeconds": seconds,
                "dailyCost": usd(s.daily.cost),
                "dailyCostRatio": cost_ratio(s),
                "dailyCostPercent": percent(cost_share(s)),
            });
            (s.key.id.to_string(), live)
        })
        .collect();
    Ok(([("cache-control", "no-store")], Json(json!({"keys": keys}))).into_response())
}

#[derive(Template)]
#[template(path = "pages/key_form.html")]
struct KeyFormPage {
    csrf: String,
    flashes: Vec<Flash>,
    /// `None` when creating.
    key_id: Option<String>,
    title: String,
    values: KeyFormValues,
    errors: BTreeMap<String, String>,
    clients: Vec<String>,
    account_fields: Vec<(&'static str, &'static str, String)>,
    current_expiry: String,
}

impl KeyFormPage {
    fn error(&self, field: &str) -> String {
        self.errors.get(field).cloned().unwrap_or_default()
    }

    fn has_error(&self, field: &str) -> bool {
        self.errors.contains_key(field)
    }

    fn client_checked(&self, id: &str) -> bool {
        self.values.allowed_clients.iter().any(|c| c == id)
    }

    /// The summary above a refused form: (the id of the field's input, its message), in form order.
    fn error_summary(&self) -> Vec<(String, String)> {
        super::forms::error_summary(&self.errors)
    }
}

fn form_page(
    state: &AppState,
    admin: &SessionAdmin,
    key_id: Option<String>,
    values: KeyFormValues,
    errors: BTreeMap<String, String>,
    current_expiry: String,
) -> Response {
    let account_fields = ACCOUNT_FIELDS
        .iter()
        .zip(ACCOUNT_LABELS)
        .zip(values.accounts.iter())
        .map(|((field, label), value)| (*field, label, value.clone()))
        .collect();
    let title = if key_id.is_some() {
        format!("Edit {}", values.name)
    } else {
        "New key".to_string()
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = render(&KeyFormPage {
        csrf: admin.csrf.clone(),
        flashes: Vec::new(),
        key_id,
        title,
        values,
        errors,
        clients: state
            .keys
            .clients()
            .ids()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        account_fields,
        current_expiry,
    });
    *response.status_mut() = status;
    response
}

async fn route_get_new_key(State(state): State<AppState>, admin: SessionAdmin) -> PageResult {
    let values = KeyFormValues {
        is_active: true,
        permissions: "all".into(),
        expiry_preset: "never".into(),
        ..KeyFormValues::default()
    };
    Ok(form_page(
        &state,
        &admin,
        None,
        values,
        BTreeMap::new(),
        String::new(),
    ))
}

#[derive(Template)]
#[template(path = "pages/key_secret.html")]
struct SecretPage {
    csrf: String,
    flashes: Vec<Flash>,
    key: KeyView,
    secret: String,
}

/// The secret of a key just created, waiting in the creating admin's session for the one page
/// that shows it.
#[derive(serde::Serialize, serde::Deserialize)]
struct NewSecret {
    key_id: String,
    secret: String,
}

const NEW_SECRET_KEY: &str = "new_secret";

/// Creates the key, then redirects (post/redirect/get), so reloading the result cannot create a
/// second key. The secret rides along in the admin's own session until the next page takes it.
async fn route_post_key(
    State(state): State<AppState>,
    admin: SessionAdmin,
    form: FormPairs,
) -> PageResult {
    admin.check_csrf(form.get("_csrf")).await?;
    let values = KeyFormValues::from_form(&form);
    let changes = match values.validate(state.keys.clients(), state.keys.zone(), true) {
        Ok(changes) => changes,
        Err(errors) => {
            return Ok(form_page(
                &state,
                &admin,
                None,
                values,
                errors,
                String::new(),
            ))
        }
    };
    let (snapshot, secret) = state.keys.create(&changes, &admin.username).await?;
    let key_id = snapshot.key.id.to_string();
    let target = format!("/keys/{key_id}/created");
    admin
        .session
        .insert(NEW_SECRET_KEY, NewSecret { key_id, secret })
        .await?;
    Ok(Redirect::to(&target).into_response())
}

/// Shows a new key's secret once: the session gives it up on the first visit, so a reload, the
/// back button or a copied URL show only that it was shown already (never a cached copy: pages
/// are `no-store`).
async fn route_get_created_key(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(id): Path<String>,
) -> PageResult {
    let snapshot = load(&state, &id).await?;
    let waiting: Option<NewSecret> = admin.session.get(NEW_SECRET_KEY).await?;
    let secret = match waiting {
        Some(new) if new.key_id == id => {
            admin.session.remove::<NewSecret>(NEW_SECRET_KEY).await?;
            new.secret
        }
        _ => {
            admin
                .flash(
                    "info",
                    "This key's secret was shown once, right after it was created, and cannot be shown again.",
                )
                .await?;
            return Ok(Redirect::to(&format!("/keys/{id}")).into_response());
        }
    };
    Ok(render(&SecretPage {
        csrf: admin.csrf.clone(),
        flashes: vec![Flash {
            kind: "info".into(),
            text: format!("Created key “{}”.", snapshot.key.name),
        }],
        key: KeyView::new(&snapshot, state.keys.zone()),
        secret,
    }))
}

async fn load(state: &AppState, id: &str) -> PageResult<KeySnapshot> {
    let id = KeyId::parse(id).ok_or(PageError::NotFound)?;
    state.keys.get(id).await?.ok_or(PageError::NotFound)
}

#[derive(Template)]
#[template(path = "pages/key_detail.html")]
struct KeyDetailPage {
    csrf: String,
    flashes: Vec<Flash>,
    key: KeyView,
    charts: UsageCharts,
}

pub fn parse_days(query: &QueryPairs) -> PageResult<u32> {
    match query.get("days") {
        None | Some("") | Some("7") => Ok(7),
        Some("30") => Ok(30),
        Some(_) => Err(PageError::BadRequest("days: choose 7 or 30".into())),
    }
}

async fn route_get_key(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(id): Path<String>,
    query: QueryPairs,
) -> PageResult {
    let snapshot = load(&state, &id).await?;
    let days = parse_days(&query)?;
    let usage = state.keys.key_usage_by_day(snapshot.key.id, days).await?;
    Ok(render(&KeyDetailPage {
        csrf: admin.csrf.clone(),
        flashes: take_flashes(&admin.session).await?,
        key: KeyView::new(&snapshot, state.keys.zone()),
        charts: UsageCharts::new(days, &usage),
    }))
}

fn values_of(snapshot: &KeySnapshot) -> KeyFormValues {
    let key = &snapshot.key;
    let number = |n: u64| if n == 0 { String::new() } else { n.to_string() };
    KeyFormValues {
        name: key.name.clone(),
        description: key.description.clone(),
        tags: key.tags.join(", "),
        is_active: key.is_active,
        permissions: key.permissions.as_str().into(),
        concurrency_limit: number(key.concurrency_limit),
        rate_limit_window: number(key.rate_limit_window_minutes),
        rate_limit_requests: number(key.rate_limit_requests),
        token_limit: number(key.token_limit),
        daily_cost_limit: if key.daily_cost_limit.nanos() == 0 {
            String::new()
        } else {
            key.daily_cost_limit.to_string()
        },
        enable_model_restriction: key.enable_model_restriction,
        restricted_models: key.restricted_models.join("\n"),
        enable_client_restriction: key.enable_client_restriction,
        allowed_clients: key.allowed_clients.clone(),
        accounts: key.accounts.clone().map(Option::unwrap_or_default),
        expiry_preset: "keep".into(),
        expires_on: String::new(),
    }
}

async fn route_get_edit_key(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(id): Path<String>,
) -> PageResult {
    let snapshot = load(&state, &id).await?;
    let current = expiry(snapshot.key.expires_at, state.keys.zone());
    Ok(form_page(
        &state,
        &admin,
        Some(id),
        values_of(&snapshot),
        BTreeMap::new(),
        current,
    ))
}

async fn route_post_edit_key(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(id): Path<String>,
    form: FormPairs,
) -> PageResult {
    admin.check_csrf(form.get("_csrf")).await?;
    let snapshot = load(&state, &id).await?;
    let values = KeyFormValues::from_form(&form);
    let changes = match values.validate(state.keys.clients(), state.keys.zone(), false) {
        Ok(changes) => changes,
        Err(errors) => {
            let current = expiry(snapshot.key.expires_at, state.keys.zone());
            return Ok(form_page(&state, &admin, Some(id), values, errors, current));
        }
    };
    let updated = state
        .keys
        .update(snapshot.key.id, &changes)
        .await?
        .ok_or(PageError::NotFound)?;
    admin
        .flash("info", format!("Saved “{}”.", updated.key.name))
        .await?;
    Ok(Redirect::to(&format!("/keys/{id}")).into_response())
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
    admin: SessionAdmin,
    Path(id): Path<String>,
    form: FormPairs,
) -> PageResult {
    admin.check_csrf(form.get("_csrf")).await?;
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
    let id_value = KeyId::parse(&id).ok_or(PageError::NotFound)?;
    let changes = KeyChanges {
        is_active: Some(active),
        ..KeyChanges::default()
    };
    let updated = state
        .keys
        .update(id_value, &changes)
        .await?
        .ok_or(PageError::NotFound)?;
    let verb = if active { "Enabled" } else { "Disabled" };
    admin
        .flash("info", format!("{verb} “{}”.", updated.key.name))
        .await?;
    Ok(Redirect::to(&back).into_response())
}

#[derive(Template)]
#[template(path = "pages/key_delete.html")]
struct DeletePage {
    csrf: String,
    flashes: Vec<Flash>,
    key: KeyView,
    /// `1 request`, `1,200 requests`.
    requests: String,
}

async fn route_get_delete_key(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(id): Path<String>,
) -> PageResult {
    let snapshot = load(&state, &id).await?;
    Ok(render(&DeletePage {
        csrf: admin.csrf.clone(),
        flashes: Vec::new(),
        key: KeyView::new(&snapshot, state.keys.zone()),
        requests: plural(snapshot.total.requests, "request", "requests"),
    }))
}

async fn route_post_delete_key(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(id): Path<String>,
    form: FormPairs,
) -> PageResult {
    admin.check_csrf(form.get("_csrf")).await?;
    let snapshot = load(&state, &id).await?;
    if state.keys.delete(snapshot.key.id).await? {
        admin
            .flash(
                "info",
                format!("Deleted “{}” and all its usage.", snapshot.key.name),
            )
            .await?;
    }
    Ok(Redirect::to("/keys").into_response())
}

async fn route_post_disable_expired(
    State(state): State<AppState>,
    admin: SessionAdmin,
    form: FormPairs,
) -> PageResult {
    admin.check_csrf(form.get("_csrf")).await?;
    let disabled = state.keys.disable_expired(Utc::now()).await?;
    let text = match disabled {
        0 => "No expired keys were active.".to_string(),
        n => format!(
            "Disabled {}.",
            plural(n as u64, "expired key", "expired keys")
        ),
    };
    admin.flash("info", text).await?;
    Ok(Redirect::to("/keys").into_response())
}
