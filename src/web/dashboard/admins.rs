//! `/admins` (role `admin`): the admin list; add an admin (its generated password shown once),
//! change a role, disable or enable, remove. `/account/password` (every admin): change one's
//! own password, which ends one's other sessions.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::flash::Flash;
use crate::domain::role::AdminRole;
use crate::domain::secret::random_password;
use crate::domain::username::AdminUsername;
use crate::service::{AdminChange, AdminSummary, SignIn};
use crate::web::access::{get, post, Access, RouteSpec};
use crate::web::auth::{sign_in, AdminForm, SessionAdmin, SessionKey};
use crate::web::error::PageResult;
use crate::web::AppState;

/// The shortest password `/account/password` accepts (the CLI's generated ones have 24).
pub const MIN_PASSWORD_CHARS: usize = 12;
const GENERATED_PASSWORD_CHARS: usize = 24;

pub fn routes() -> Vec<RouteSpec> {
    const ADMINS: Access = Access::Page(AdminRole::Admin);
    const SIGNED_IN: Access = Access::Page(AdminRole::Viewer);
    vec![
        get("/admins", ADMINS, route_get_admins),
        post("/admins", ADMINS, route_post_admin),
        get("/admins/created", ADMINS, route_get_created_admin),
        post("/admins/role", ADMINS, route_post_role),
        post("/admins/active", ADMINS, route_post_active),
        post("/admins/delete", ADMINS, route_post_delete),
        get("/account/password", SIGNED_IN, route_get_password),
        post("/account/password", SIGNED_IN, route_post_password),
    ]
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/admins.html")]
struct AdminsPage {
    csrf: String,
    flashes: Vec<Flash>,
    me: String,
    admins: Vec<AdminSummary>,
    roles: [AdminRole; 3],
}

async fn route_get_admins(
    State(state): State<AppState>,
    admin: SessionAdmin,
) -> PageResult<AdminsPage> {
    Ok(AdminsPage {
        csrf: admin.csrf,
        flashes: Flash::take_all(&admin.session).await?,
        me: admin.username,
        admins: state.admins.list().await?,
        roles: AdminRole::ALL,
    })
}

/// A new admin's password waiting for the one page that shows it.
#[derive(Serialize, Deserialize)]
struct NewAdminPassword {
    username: String,
    password: String,
}

async fn route_post_admin(
    State(state): State<AppState>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult<Response> {
    let typed = form.get("username").unwrap_or("").trim();
    let username = match AdminUsername::parse(typed) {
        Ok(username) => username,
        Err(message) => return refuse(&admin, format!("Username {message}.")).await,
    };
    let Some(role) = form.get("role").and_then(AdminRole::parse) else {
        return refuse(&admin, "Choose a role: viewer, operator or admin.".into()).await;
    };
    let password = random_password(GENERATED_PASSWORD_CHARS);
    if !state.admins.add(&username, role, &password).await? {
        return refuse(
            &admin,
            format!("An admin named “{username}” already exists."),
        )
        .await;
    }
    tracing::info!(actor = %admin.username, ?username, %role, "admin added");
    SessionKey::NewAdminPassword
        .insert(
            &admin.session,
            NewAdminPassword {
                username: username.as_str().to_string(),
                password,
            },
        )
        .await?;
    Ok(Redirect::to("/admins/created").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/admin_created.html")]
struct AdminCreatedPage {
    csrf: String,
    flashes: Vec<Flash>,
    username: String,
    password: String,
}

/// Shows a new admin's password once: the session gives it up on the first visit.
async fn route_get_created_admin(admin: SessionAdmin) -> PageResult<Response> {
    let waiting: Option<NewAdminPassword> =
        SessionKey::NewAdminPassword.remove(&admin.session).await?;
    let Some(new) = waiting else {
        Flash::info("A new admin's password is shown once, right after it is added, and cannot be shown again.")
            .store(&admin.session)
            .await?;
        return Ok(Redirect::to("/admins").into_response());
    };
    Ok(AdminCreatedPage {
        csrf: admin.csrf,
        flashes: vec![Flash::info(format!("Added admin “{}”.", new.username))],
        username: new.username,
        password: new.password,
    }
    .into_response())
}

async fn refuse(admin: &SessionAdmin, message: String) -> PageResult<Response> {
    Flash::error(message).store(&admin.session).await?;
    Ok(Redirect::to("/admins").into_response())
}

/// Tells the admin how a change ended and goes back to the list.
async fn report(
    admin: &SessionAdmin,
    username: &str,
    change: AdminChange,
    done: &str,
) -> PageResult<Response> {
    let flash = match change {
        AdminChange::Done => Flash::info(format!("{done} “{username}”.")),
        AdminChange::NotFound => Flash::error(format!("There is no admin named “{username}”.")),
        AdminChange::LastAdmin => Flash::error(format!(
            "“{username}” is the last active admin; make another admin first. Nothing was changed."
        )),
    };
    flash.store(&admin.session).await?;
    Ok(Redirect::to("/admins").into_response())
}

async fn route_post_role(
    State(state): State<AppState>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult<Response> {
    let username = form.get("username").unwrap_or("").to_string();
    let Some(role) = form.get("role").and_then(AdminRole::parse) else {
        return refuse(&admin, "Choose a role: viewer, operator or admin.".into()).await;
    };
    let change = state.admins.change_role(&username, role).await?;
    tracing::info!(actor = %admin.username, username = %username, %role, ?change, "admin role change");
    report(&admin, &username, change, &format!("Role {role} given to")).await
}

async fn route_post_active(
    State(state): State<AppState>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult<Response> {
    let username = form.get("username").unwrap_or("").to_string();
    let disable = form.get("disabled") == Some("true");
    let change = state.admins.set_disabled(&username, disable).await?;
    tracing::info!(actor = %admin.username, username = %username, disable, ?change, "admin disabled/enabled");
    report(
        &admin,
        &username,
        change,
        if disable { "Disabled" } else { "Enabled" },
    )
    .await
}

async fn route_post_delete(
    State(state): State<AppState>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult<Response> {
    let username = form.get("username").unwrap_or("").to_string();
    let change = state.admins.remove(&username).await?;
    tracing::info!(actor = %admin.username, username = %username, ?change, "admin removal");
    report(&admin, &username, change, "Removed").await
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/account_password.html")]
struct PasswordPage {
    csrf: String,
    flashes: Vec<Flash>,
    username: String,
    is_admin: bool,
    error: String,
    min_chars: usize,
}

async fn route_get_password(admin: SessionAdmin) -> PageResult<PasswordPage> {
    Ok(PasswordPage {
        is_admin: admin.role.allows(AdminRole::Admin),
        csrf: admin.csrf,
        flashes: Flash::take_all(&admin.session).await?,
        username: admin.username,
        error: String::new(),
        min_chars: MIN_PASSWORD_CHARS,
    })
}

/// Changes the signed-in admin's own password: the current one is checked like a sign-in
/// (throttled per address and username), the new one typed twice. Every other session of the
/// admin ends; this one continues under a new id.
async fn route_post_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AdminForm { admin, form }: AdminForm,
) -> PageResult<Response> {
    let current = form.get("currentPassword").unwrap_or("");
    let new = form.get("newPassword").unwrap_or("");
    let again = form.get("newPasswordAgain").unwrap_or("");
    let page = |error: &str, admin: SessionAdmin| PasswordPage {
        is_admin: admin.role.allows(AdminRole::Admin),
        csrf: admin.csrf,
        flashes: Vec::new(),
        username: admin.username,
        error: error.to_string(),
        min_chars: MIN_PASSWORD_CHARS,
    };
    if new.chars().count() < MIN_PASSWORD_CHARS {
        let error = format!("The new password needs at least {MIN_PASSWORD_CHARS} characters.");
        return Ok((axum::http::StatusCode::BAD_REQUEST, page(&error, admin)).into_response());
    }
    if new != again {
        return Ok((
            axum::http::StatusCode::BAD_REQUEST,
            page("The two new passwords differ.", admin),
        )
            .into_response());
    }
    let username = match AdminUsername::parse(&admin.username) {
        Ok(username) => username,
        Err(_) => return Ok(Redirect::to("/login").into_response()),
    };
    match state.admins.sign_in(&username, current, peer.ip()).await? {
        SignIn::Accepted { .. } => {}
        SignIn::Throttled { .. } => {
            return Ok((
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                page("Too many wrong passwords. Try again later.", admin),
            )
                .into_response())
        }
        SignIn::Busy => {
            return Ok((
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                page("Busy right now. Try again in a few seconds.", admin),
            )
                .into_response())
        }
        SignIn::Refused => {
            return Ok((
                axum::http::StatusCode::BAD_REQUEST,
                page("The current password is wrong.", admin),
            )
                .into_response())
        }
    }
    let epoch = state.admins.reset_password(&username, new).await?;
    // The epoch moved on, ending every session of this admin; this one signs in again under it.
    sign_in(&admin.session, &username, epoch).await?;
    tracing::info!(?username, client = %peer.ip(), "admin changed own password");
    Flash::info("Password changed. Your other sessions have ended.")
        .store(&admin.session)
        .await?;
    Ok(Redirect::to("/account/password").into_response())
}
