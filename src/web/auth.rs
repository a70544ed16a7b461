//! Who may call what: bearer tokens for the relay API and admin automation; dashboard sessions
//! (sign-in, session epochs, CSRF tokens) for the pages and the dashboard's own API calls; and
//! the sign-in form's signed double-submit cookie. Every session key is spelled here once.
//!
//! Nothing is stored for a visitor who has not signed in: the sign-in form is protected by a
//! signed double-submit cookie instead of a session, so anonymous page views cost no Redis key.

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use subtle::ConstantTimeEq;
use tower_sessions::cookie::{Cookie, SameSite};
use tower_sessions::{Expiry, Session, SessionManagerLayer, SessionStore};

use super::error::{ApiError, PageError};
use super::extract::FormPairs;
use super::AppState;
use crate::config::Config;
use crate::domain::role::AdminRole;
use crate::domain::secret::random_hex;
use crate::domain::username::AdminUsername;
use crate::service::AdminService;

pub(super) const SESSION_COOKIE: &str = "keyward_session";
/// Holds a random nonce; the sign-in form carries its HMAC (see `AdminService::sign_in_form_token`).
const LOGIN_FORM_COOKIE: &str = "keyward_login";
const LOGIN_FORM_NONCE_BYTES: usize = 16;
/// The header the dashboard's scripts send the session's CSRF token in.
pub(super) const CSRF_HEADER: &str = "x-csrf-token";

/// The session's entries. A page's own entries (flash messages, a new key's secret) are named
/// here too, so no two parts of the dashboard can pick the same name.
#[derive(Debug, Clone, Copy)]
pub enum SessionKey {
    /// The signed-in admin's username.
    Admin,
    /// The admin's session epoch at sign-in; a password change moves the admin's epoch on.
    Epoch,
    Csrf,
    Flashes,
    /// A key's secret waiting for the one page that shows it.
    NewSecret,
    /// A new admin's generated password waiting for the one page that shows it.
    NewAdminPassword,
    /// A regenerated key's new secret waiting for the one page that shows it.
    RegeneratedSecret,
    /// A batch's new keys and secrets waiting for the one page that shows them.
    BatchSecrets,
}

impl SessionKey {
    fn name(self) -> &'static str {
        match self {
            SessionKey::Admin => "admin",
            SessionKey::Epoch => "epoch",
            SessionKey::Csrf => "csrf",
            SessionKey::Flashes => "flash",
            SessionKey::NewSecret => "new_secret",
            SessionKey::NewAdminPassword => "new_admin_password",
            SessionKey::RegeneratedSecret => "regenerated_secret",
            SessionKey::BatchSecrets => "batch_secrets",
        }
    }

    pub async fn get<T: DeserializeOwned>(
        self,
        session: &Session,
    ) -> Result<Option<T>, tower_sessions::session::Error> {
        session.get(self.name()).await
    }

    pub async fn insert<T: Serialize>(
        self,
        session: &Session,
        value: T,
    ) -> Result<(), tower_sessions::session::Error> {
        session.insert(self.name(), value).await
    }

    pub async fn remove<T: DeserializeOwned>(
        self,
        session: &Session,
    ) -> Result<Option<T>, tower_sessions::session::Error> {
        session.remove(self.name()).await
    }
}

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

/// Whether the request carries `Authorization: Bearer <expected>`; always false when no
/// token is configured. Compared in constant time.
pub fn has_bearer(headers: &HeaderMap, expected: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return false;
    };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.trim().as_bytes().ct_eq(expected.as_bytes())))
}

/// The relay API's guard: the service token, which must be configured.
pub async fn require_service_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match state.config.service_token.as_deref() {
        None => ApiError::NoTokenConfigured {
            setting: "KEYWARD_SERVICE_TOKEN",
        }
        .into_response(),
        Some(token) if has_bearer(request.headers(), Some(token)) => next.run(request).await,
        Some(_) => ApiError::Unauthorized.into_response(),
    }
}

/// The session's CSRF token, created on first use.
pub(super) async fn csrf_token(
    session: &Session,
) -> Result<String, tower_sessions::session::Error> {
    if let Some(token) = SessionKey::Csrf.get::<String>(session).await? {
        return Ok(token);
    }
    let token = random_hex(32);
    SessionKey::Csrf.insert(session, &token).await?;
    Ok(token)
}

/// Whether `given` is this session's CSRF token (constant-time).
pub(super) async fn csrf_matches(
    session: &Session,
    given: Option<&str>,
) -> Result<bool, tower_sessions::session::Error> {
    let expected = SessionKey::Csrf.get::<String>(session).await?;
    Ok(match (expected, given) {
        (Some(expected), Some(given)) => bool::from(expected.as_bytes().ct_eq(given.as_bytes())),
        _ => false,
    })
}

/// Signs the admin in: a new session id (so a planted id is worthless), the admin's current
/// session epoch, and a new CSRF token. After a password change, calling this again with the
/// new epoch keeps the current session while every other one ends.
pub async fn sign_in(
    session: &Session,
    username: &AdminUsername,
    session_epoch: u64,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    SessionKey::Admin.insert(session, username.as_str()).await?;
    SessionKey::Epoch.insert(session, session_epoch).await?;
    SessionKey::Csrf.insert(session, random_hex(32)).await?;
    Ok(())
}

pub async fn sign_out(session: &Session) -> Result<(), tower_sessions::session::Error> {
    session.flush().await
}

/// Who a signed-in session belongs to, as checked on this request.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub username: String,
    pub role: AdminRole,
}

/// The admin signed in to this session, if the sign-in still holds: a session whose epoch is
/// not the admin's current one (the password changed since) or whose admin is gone is ended.
pub(super) async fn signed_in_admin(
    session: &Session,
    admins: &AdminService,
) -> Result<Option<SignedIn>, PageError> {
    let Some(username) = SessionKey::Admin.get::<String>(session).await? else {
        return Ok(None);
    };
    // Sessions from before epochs existed carry none, like admins that never changed password.
    let signed_in_epoch = SessionKey::Epoch.get::<u64>(session).await?.unwrap_or(0);
    match admins.session_state(&username).await? {
        Some(state) if state.session_epoch == signed_in_epoch && !state.disabled => {
            Ok(Some(SignedIn {
                username,
                role: state.role,
            }))
        }
        _ => {
            session.flush().await?;
            Ok(None)
        }
    }
}

/// A signed-in admin. Pages that take it redirect to `/login` without a session.
pub struct SessionAdmin {
    pub username: String,
    /// The admin's role as read on this request (pages hide what it may not use).
    pub role: AdminRole,
    pub csrf: String,
    pub session: Session,
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
        // The route's access layer has checked the session on this request already.
        let signed_in = match parts.extensions.get::<SignedIn>() {
            Some(signed_in) => Some(signed_in.clone()),
            None => signed_in_admin(&session, &state.admins)
                .await
                .map_err(IntoResponse::into_response)?,
        };
        let Some(SignedIn { username, role }) = signed_in else {
            return Err(Redirect::to("/login").into_response());
        };
        let csrf = csrf_token(&session)
            .await
            .map_err(|error| PageError::from(error).into_response())?;
        Ok(SessionAdmin {
            username,
            role,
            csrf,
            session,
        })
    }
}

/// A state-changing form from a signed-in admin, taken only when it carries the session's CSRF
/// token: a handler that takes it cannot forget the check, and a forged form changes nothing.
pub struct AdminForm {
    pub admin: SessionAdmin,
    pub form: FormPairs,
}

impl FromRequest<AppState> for AdminForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let admin = SessionAdmin::from_request_parts(&mut parts, state).await?;
        let form = FormPairs::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let given = form.get("_csrf");
        match csrf_matches(&admin.session, given).await {
            Ok(true) => Ok(AdminForm { admin, form }),
            Ok(false) => Err(PageError::Forbidden(
                "This form is missing its security token or it has expired. Nothing was changed; reload the page and try again.",
            )
            .into_response()),
            Err(error) => Err(PageError::from(error).into_response()),
        }
    }
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
