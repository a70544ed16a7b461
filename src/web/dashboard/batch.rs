//! Batch creation from the dashboard: one set of limits, `count` keys named `prefix-001` ...
//! The secrets wait in the admin's own session for the one result page that shows them (with
//! copy-all and a CSV built in the browser from that page; nothing is served twice).

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::flash::Flash;
use super::forms::{form_errors, FormErrors, KeyFormValues};
use crate::domain::role::AdminRole;
use crate::service::keys::{batch_name, MAX_BATCH};
use crate::service::ServiceError;
use crate::web::access::{get, post, Access, RouteSpec};
use crate::web::audit::{admin_actor, key_changes, record};
use crate::web::auth::{AdminForm, SessionAdmin, SessionKey};
use crate::web::error::PageResult;
use crate::web::AppState;

/// Creating keys in a batch (and the page showing their secrets once): the operator role.
pub fn routes() -> Vec<RouteSpec> {
    const WRITE: Access = Access::Page(AdminRole::Operator);
    vec![
        get("/keys/batch", WRITE, route_get_batch),
        post("/keys/batch", WRITE, route_post_batch),
        get("/keys/batch/created", WRITE, route_get_batch_created),
    ]
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/keys_batch.html")]
struct BatchFormPage {
    csrf: String,
    flashes: Vec<Flash>,
    count: String,
    name_prefix: String,
    values: KeyFormValues,
    /// `field: message` lines.
    errors: Vec<String>,
}

fn form_page(
    admin: SessionAdmin,
    count: String,
    name_prefix: String,
    values: KeyFormValues,
    errors: FormErrors,
) -> Response {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = BatchFormPage {
        csrf: admin.csrf,
        flashes: Vec::new(),
        count,
        name_prefix,
        values,
        errors: errors
            .into_iter()
            .map(|(field, message)| format!("{field} {message}"))
            .collect(),
    };
    (status, page).into_response()
}

async fn route_get_batch(admin: SessionAdmin) -> Response {
    let mut values = KeyFormValues::for_new_key();
    values.permissions = "all".into();
    form_page(admin, "10".into(), String::new(), values, FormErrors::new())
}

/// One created key of a batch as the result page lists it.
#[derive(Serialize, Deserialize)]
struct BatchSecret {
    id: String,
    name: String,
    secret: String,
}

async fn route_post_batch(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult {
    let count_text = form.get("count").unwrap_or("").trim().to_string();
    let prefix = form.get("namePrefix").unwrap_or("").trim().to_string();
    let mut values = KeyFormValues::from_form(&form);
    let mut errors = FormErrors::new();
    let count = count_text
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_BATCH).contains(n));
    if count.is_none() {
        errors.insert(
            "count".into(),
            format!("must be a whole number from 1 to {MAX_BATCH}"),
        );
    }
    if prefix.is_empty() {
        errors.insert("namePrefix".into(), "is required".into());
    }
    // Checked as a create of the batch's longest name, like the API.
    values.name = batch_name(&prefix, count.unwrap_or(MAX_BATCH));
    let keys = &state.keys;
    let renamed = |errors: FormErrors| -> FormErrors {
        errors
            .into_iter()
            .map(|(field, message)| {
                let field = if field == "name" {
                    "namePrefix".into()
                } else {
                    field
                };
                (field, message)
            })
            .collect()
    };
    match values.changes(keys.clients(), keys.zone(), Utc::now()) {
        Err(found) => errors.extend(renamed(found)),
        Ok(changes) if errors.is_empty() => {
            let count = count.unwrap_or(1);
            match keys
                .create_batch(&changes, &prefix, count, &admin.username)
                .await
            {
                Ok(created) => {
                    let actor = admin_actor(&admin.username, peer);
                    for (snapshot, _) in &created {
                        let audit = key_changes(None, Some(&snapshot.key));
                        record(&state, &actor, "batch-create", Some(snapshot.key.id), audit).await;
                    }
                    let secrets: Vec<BatchSecret> = created
                        .into_iter()
                        .map(|(snapshot, secret)| BatchSecret {
                            id: snapshot.key.id.to_string(),
                            name: snapshot.key.name,
                            secret,
                        })
                        .collect();
                    SessionKey::BatchSecrets
                        .insert(&admin.session, secrets)
                        .await?;
                    return Ok(Redirect::to("/keys/batch/created").into_response());
                }
                Err(ServiceError::Invalid(found)) => {
                    errors.extend(renamed(form_errors(found)));
                }
                Err(failed) => return Err(failed.into()),
            }
        }
        Ok(_) => {}
    }
    values.name = String::new();
    Ok(form_page(admin, count_text, prefix, values, errors))
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/keys_batch_created.html")]
struct BatchCreatedPage {
    csrf: String,
    flashes: Vec<Flash>,
    keys: Vec<BatchSecret>,
    /// Every secret, one a line, for copy-all.
    all_secrets: String,
}

/// Shows the batch's secrets once: the session gives them up on the first visit.
async fn route_get_batch_created(admin: SessionAdmin) -> PageResult {
    let waiting: Option<Vec<BatchSecret>> = SessionKey::BatchSecrets.remove(&admin.session).await?;
    let Some(keys) = waiting else {
        Flash::info("The batch's secrets were shown once, right after it was created, and cannot be shown again.")
            .store(&admin.session)
            .await?;
        return Ok(Redirect::to("/keys").into_response());
    };
    let all_secrets = keys
        .iter()
        .map(|k| k.secret.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    Ok(BatchCreatedPage {
        csrf: admin.csrf,
        flashes: vec![Flash::info(format!("Created {} keys.", keys.len()))],
        keys,
        all_secrets,
    }
    .into_response())
}
