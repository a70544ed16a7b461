//! Session plumbing: the Redis-backed layer, the logged-in admin extractor, CSRF tokens and
//! flash messages.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use super::PageError;
use crate::config::Config;
use crate::domain::secret::random_hex;
use crate::store::{RedisSessionStore, Store};

pub const SESSION_COOKIE: &str = "keyward_session";
const ADMIN_KEY: &str = "admin";
const CSRF_KEY: &str = "csrf";
const FLASH_KEY: &str = "flash";

pub fn session_layer(store: Store, config: &Config) -> SessionManagerLayer<RedisSessionStore> {
    let idle = time::Duration::seconds(config.session_idle.as_secs() as i64);
    SessionManagerLayer::new(RedisSessionStore::new(store))
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

/// Logs the admin in: a new session id (so a planted id is worthless) and a new CSRF token.
pub async fn log_in(session: &Session, username: &str) -> Result<(), PageError> {
    session.cycle_id().await?;
    session.insert(ADMIN_KEY, username).await?;
    session.insert(CSRF_KEY, random_hex(32)).await?;
    Ok(())
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

impl<S: Send + Sync> FromRequestParts<S> for SessionAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(status, message)| (status, message).into_response())?;
        let username = session
            .get::<String>(ADMIN_KEY)
            .await
            .map_err(|e| PageError::from(e).into_response())?;
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
