//! Session plumbing: the Redis-backed layer, the logged-in admin extractor, CSRF tokens,
//! the sign-in form's cookie and flash messages.
//!
//! Nothing is stored for a visitor who has not signed in: the sign-in form is protected by a
//! signed double-submit cookie instead of a session, so anonymous page views cost no Redis key.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tower_sessions::cookie::{Cookie, SameSite};
use tower_sessions::{Expiry, Session, SessionManagerLayer, SessionStore};

use super::PageError;
use crate::config::Config;
use crate::domain::secret::random_hex;
use crate::domain::username::AdminUsername;
use crate::service::AdminService;
use crate::web::AppState;

pub const SESSION_COOKIE: &str = "keyward_session";
/// Holds a random nonce; the sign-in form carries its HMAC (see `AdminService::sign_in_form_token`).
pub const LOGIN_FORM_COOKIE: &str = "keyward_login";
const LOGIN_FORM_NONCE_BYTES: usize = 16;
const ADMIN_KEY: &str = "admin";
/// The admin's session epoch at sign-in; a password change moves the admin's epoch on.
const EPOCH_KEY: &str = "epoch";
const CSRF_KEY: &str = "csrf";
const FLASH_KEY: &str = "flash";

pub fn session_layer<S: SessionStore + Clone>(store: S, config: &Config) -> SessionManagerLayer<S> {
    let idle = time::Duration::seconds(config.session_idle.as_secs() as i64);
    SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.cookie_secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle))
        // Saving on every request is what makes the expiry "after inactivity".
        .with_always_save(true)
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, PageError> {
    if let Some(token) = session.get::<String>(CSRF_KEY).await? {
        return Ok(token);
    }
    let token = random_hex(32);
    session.insert(CSRF_KEY, &token).await?;
    Ok(token)
}

/// Whether `given` is this session's CSRF token (constant-time).
pub async fn csrf_matches(session: &Session, given: Option<&str>) -> Result<bool, PageError> {
    let expected = session.get::<String>(CSRF_KEY).await?;
    Ok(match (expected, given) {
        (Some(expected), Some(given)) => bool::from(expected.as_bytes().ct_eq(given.as_bytes())),
        _ => false,
    })
}

/// Logs the admin in: a new session id (so a planted id is worthless), the admin's current
/// session epoch, and a new CSRF token. After a password change, calling this again with the
/// new epoch keeps the current session while every other one ends.
pub async fn log_in(
    session: &Session,
    username: &AdminUsername,
    session_epoch: u64,
) -> Result<(), PageError> {
    session.cycle_id().await?;
    session.insert(ADMIN_KEY, username.as_str()).await?;
    session.insert(EPOCH_KEY, session_epoch).await?;
    session.insert(CSRF_KEY, random_hex(32)).await?;
    Ok(())
}

/// The admin signed in to this session, if the sign-in still holds: a session whose epoch is
/// not the admin's current one (the password changed since) or whose admin is gone is ended.
pub async fn signed_in_admin(
    session: &Session,
    admins: &AdminService,
) -> Result<Option<String>, PageError> {
    let Some(username) = session.get::<String>(ADMIN_KEY).await? else {
        return Ok(None);
    };
    // Sessions from before epochs existed carry none, like admins that never changed password.
    let signed_in_epoch = session.get::<u64>(EPOCH_KEY).await?.unwrap_or(0);
    if admins.session_epoch(&username).await? == Some(signed_in_epoch) {
        return Ok(Some(username));
    }
    session.flush().await?;
    Ok(None)
}

/// The nonce of the visitor's sign-in form cookie, when it has a well-formed one.
pub fn login_form_nonce(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == LOGIN_FORM_COOKIE)
        .map(|cookie| cookie.value().to_string())
        .filter(|nonce| {
            nonce.len() == LOGIN_FORM_NONCE_BYTES * 2
                && nonce
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

pub fn new_login_form_nonce() -> String {
    random_hex(LOGIN_FORM_NONCE_BYTES)
}

/// The `Set-Cookie` value for the sign-in form's nonce (`None` removes the cookie). It lives as
/// long as the browser session and is sent only to `/login`.
pub fn login_form_cookie(nonce: Option<&str>, secure: bool) -> Option<HeaderValue> {
    let mut cookie = Cookie::build((LOGIN_FORM_COOKIE, nonce.unwrap_or("").to_string()))
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build();
    if nonce.is_none() {
        cookie.make_removal();
    }
    HeaderValue::from_str(&cookie.to_string()).ok()
}

pub async fn log_out(session: &Session) -> Result<(), PageError> {
    session.flush().await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub kind: String,
    pub text: String,
}

pub async fn flash(
    session: &Session,
    kind: &str,
    text: impl Into<String>,
) -> Result<(), PageError> {
    let mut messages: Vec<Flash> = session.get(FLASH_KEY).await?.unwrap_or_default();
    messages.push(Flash {
        kind: kind.to_string(),
        text: text.into(),
    });
    session.insert(FLASH_KEY, messages).await?;
    Ok(())
}

/// The flash messages waiting for this session; each is shown once.
pub async fn take_flashes(session: &Session) -> Result<Vec<Flash>, PageError> {
    Ok(session.remove(FLASH_KEY).await?.unwrap_or_default())
}

/// A logged-in admin. Pages that take it redirect to `/login` without a session.
pub struct SessionAdmin {
    pub username: String,
    pub csrf: String,
    pub session: Session,
}

impl SessionAdmin {
    /// Refuses a state-changing form without this session's CSRF token (nothing changes).
    pub async fn check_csrf(&self, given: Option<&str>) -> Result<(), PageError> {
        if csrf_matches(&self.session, given).await? {
            Ok(())
        } else {
            Err(PageError::Forbidden(
                "This form is missing its security token or it has expired. Nothing was changed; reload the page and try again.",
            ))
        }
    }

    pub async fn flash(&self, kind: &str, text: impl Into<String>) -> Result<(), PageError> {
        flash(&self.session, kind, text).await
    }
}

impl FromRequestParts<AppState> for SessionAdmin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(status, message)| (status, message).into_response())?;
        let username = signed_in_admin(&session, &state.admins)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(username) = username else {
            return Err(Redirect::to("/login").into_response());
        };
        let csrf = csrf_token(&session)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(SessionAdmin {
            username,
            csrf,
            session,
        })
    }
}
