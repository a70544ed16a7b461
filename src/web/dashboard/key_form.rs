//! Creating and editing keys: the form pages, post/redirect/get, and the one page that shows a
//! new key's secret.

use askama::Template;
use askama_web::WebTemplate;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::flash::Flash;
use super::format::expiry;
use super::forms::{form_errors, FormErrors, KeyFormValues};
use super::key_view::{load_key, KeyView, ACCOUNT_LABELS};
use crate::domain::budgets::ExpirationMode;
use crate::domain::ids::KeyId;
use crate::domain::key::ApiKey;
use crate::domain::key_fields::ACCOUNT_FIELDS;
use crate::domain::role::AdminRole;
use crate::domain::timezone::Zone;
use crate::service::ServiceError;
use crate::web::access::{get, post, Access, RouteSpec};
use crate::web::audit::{admin_actor, key_changes, record};
use crate::web::auth::{AdminForm, SessionAdmin, SessionKey};
use crate::web::error::{PageError, PageResult};
use crate::web::AppState;

pub fn routes() -> Vec<RouteSpec> {
    const WRITE: Access = Access::Page(AdminRole::Operator);
    vec![
        post("/keys", WRITE, route_post_key),
        get("/keys/new", WRITE, route_get_new_key),
        get("/keys/{id}/created", WRITE, route_get_created_key),
        get("/keys/{id}/edit", WRITE, route_get_edit_key),
        post("/keys/{id}/edit", WRITE, route_post_edit_key),
    ]
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/key_form.html")]
struct KeyFormPage {
    csrf: String,
    flashes: Vec<Flash>,
    /// `None` when creating.
    key_id: Option<String>,
    title: String,
    values: KeyFormValues,
    errors: FormErrors,
    clients: Vec<String>,
    account_fields: Vec<(&'static str, &'static str, String)>,
    current_expiry: CurrentExpiry,
}

/// What the "Keep" choice of the edit form keeps, and whether "starts at first use" is still
/// offered (not once the key's clock has started).
struct CurrentExpiry {
    text: String,
    activated: bool,
}

impl CurrentExpiry {
    fn new_key() -> CurrentExpiry {
        CurrentExpiry {
            text: String::new(),
            activated: false,
        }
    }

    fn of(key: &ApiKey, zone: Zone) -> CurrentExpiry {
        let text = match key.budgets.expiration {
            ExpirationMode::Activation { count, unit } if key.budgets.activated_at.is_none() => {
                format!("starts at first use, then {count} {}", unit.as_str())
            }
            _ => expiry(key.expires_at, zone),
        };
        CurrentExpiry {
            text,
            activated: key.budgets.activated_at.is_some(),
        }
    }
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

/// The form page, `400` when it shows errors.
fn form_page(
    state: &AppState,
    admin: SessionAdmin,
    key_id: Option<String>,
    values: KeyFormValues,
    errors: FormErrors,
    current_expiry: CurrentExpiry,
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
    let page = KeyFormPage {
        csrf: admin.csrf,
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
    };
    (status, page).into_response()
}

/// The form's bad fields from the service's verdict; any other failure is the error page.
fn refused_fields(error: ServiceError) -> PageResult<FormErrors> {
    match error {
        ServiceError::Invalid(errors) => Ok(form_errors(errors)),
        failed => Err(failed.into()),
    }
}

async fn route_get_new_key(State(state): State<AppState>, admin: SessionAdmin) -> Response {
    let values = KeyFormValues::for_new_key();
    form_page(
        &state,
        admin,
        None,
        values,
        FormErrors::new(),
        CurrentExpiry::new_key(),
    )
}

/// The secret of a key just created, waiting in the creating admin's session for the one page
/// that shows it.
#[derive(Serialize, Deserialize)]
struct NewSecret {
    key_id: String,
    secret: String,
}

/// Creates the key, then redirects (post/redirect/get), so reloading the result cannot create a
/// second key. The secret rides along in the admin's own session until the next page takes it.
async fn route_post_key(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult {
    let values = KeyFormValues::from_form(&form);
    let keys = &state.keys;
    let errors = match values.changes(keys.clients(), keys.zone(), Utc::now()) {
        Ok(changes) => match keys.create(changes, &admin.username).await {
            Ok((snapshot, secret)) => {
                let actor = admin_actor(&admin.username, peer);
                let changes = key_changes(None, Some(&snapshot.key));
                record(&state, &actor, "create", Some(snapshot.key.id), changes).await;
                let key_id = snapshot.key.id.to_string();
                let target = format!("/keys/{key_id}/created");
                SessionKey::NewSecret
                    .insert(&admin.session, NewSecret { key_id, secret })
                    .await?;
                return Ok(Redirect::to(&target).into_response());
            }
            Err(error) => refused_fields(error)?,
        },
        Err(errors) => errors,
    };
    Ok(form_page(
        &state,
        admin,
        None,
        values,
        errors,
        CurrentExpiry::new_key(),
    ))
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/key_secret.html")]
struct SecretPage {
    csrf: String,
    flashes: Vec<Flash>,
    key: KeyView,
    secret: String,
}

/// Shows a new key's secret once: the session gives it up on the first visit, so a reload, the
/// back button or a copied URL show only that it was shown already (never a cached copy: pages
/// are `no-store`).
async fn route_get_created_key(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(id): Path<String>,
) -> PageResult {
    let snapshot = load_key(&state, &id).await?;
    let waiting: Option<NewSecret> = SessionKey::NewSecret.get(&admin.session).await?;
    let secret = match waiting {
        Some(new) if new.key_id == id => {
            SessionKey::NewSecret
                .remove::<NewSecret>(&admin.session)
                .await?;
            new.secret
        }
        _ => {
            Flash::info(
                "This key's secret was shown once, right after it was created, and cannot be shown again.",
            )
            .store(&admin.session)
            .await?;
            return Ok(Redirect::to(&format!("/keys/{id}")).into_response());
        }
    };
    let page = SecretPage {
        csrf: admin.csrf,
        flashes: vec![Flash::info(format!("Created key “{}”.", snapshot.key.name))],
        key: KeyView::new(&snapshot, state.keys.zone()),
        secret,
    };
    Ok(page.into_response())
}

async fn route_get_edit_key(
    State(state): State<AppState>,
    admin: SessionAdmin,
    Path(id): Path<String>,
) -> PageResult {
    let snapshot = load_key(&state, &id).await?;
    let current = CurrentExpiry::of(&snapshot.key, state.keys.zone());
    let values = KeyFormValues::of(&snapshot.key);
    Ok(form_page(
        &state,
        admin,
        Some(id),
        values,
        FormErrors::new(),
        current,
    ))
}

/// Saves the form. The form sends every setting, so the rules need no stored value: validating
/// is the form's and the rules' business, and the save is the write script and the index
/// script. The key is read before (for the audit entry's "before" values) and to show the
/// form again with its errors.
async fn route_post_edit_key(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult {
    let key_id = KeyId::parse(&id).ok_or(PageError::NotFound)?;
    let values = KeyFormValues::from_form(&form);
    let keys = &state.keys;
    let errors = match values.changes(keys.clients(), keys.zone(), Utc::now()) {
        Ok(changes) => match (keys.get(key_id).await?, keys.update(key_id, &changes).await) {
            (before, Ok(true)) => {
                let after = keys.get(key_id).await?;
                let audit = key_changes(
                    before.as_ref().map(|b| &b.key),
                    after.as_ref().map(|a| &a.key),
                );
                let actor = admin_actor(&admin.username, peer);
                record(&state, &actor, "update", Some(key_id), audit).await;
                let name = changes.name.unwrap_or_default();
                Flash::info(format!("Saved “{name}”."))
                    .store(&admin.session)
                    .await?;
                return Ok(Redirect::to(&format!("/keys/{id}")).into_response());
            }
            (_, Ok(false)) => return Err(PageError::NotFound),
            (_, Err(error)) => refused_fields(error)?,
        },
        Err(errors) => errors,
    };
    let snapshot = load_key(&state, &id).await?;
    let current = CurrentExpiry::of(&snapshot.key, state.keys.zone());
    Ok(form_page(&state, admin, Some(id), values, errors, current))
}
