//! Errors of the HTTP layer and how they become responses, in one place: the APIs' JSON errors,
//! the dashboard's error pages, and the classification of service failures both share.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::domain::role::AdminRole;
use crate::domain::usage::MAX_COUNTER;
use crate::domain::{FieldError, FieldErrors};
use crate::service::ServiceError;

/// A failure that is not the caller's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Redis is unreachable, failing or slow: `503`, worth retrying.
    StorageUnavailable,
    /// A bug or broken invariant: `500`; the details stay in the log.
    Internal,
}

impl Failure {
    /// Classifies a service error: bad input (the caller's to fix) comes back as `Err`; a
    /// failure is logged here with its whole chain of causes, which no answer carries.
    pub fn classify(error: ServiceError) -> Result<Failure, FieldErrors> {
        let failure = match error {
            ServiceError::Invalid(fields) => return Err(fields),
            ServiceError::Storage(_) => Failure::StorageUnavailable,
            ServiceError::Internal { .. } => Failure::Internal,
        };
        failure.log(&error);
        Ok(failure)
    }

    pub fn log(self, error: &(dyn std::error::Error + 'static)) {
        let chain = crate::error_chain(error);
        match self {
            Failure::StorageUnavailable => tracing::error!(error = %chain, "storage unavailable"),
            Failure::Internal => tracing::error!(error = %chain, "internal error"),
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Failure::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Failure::StorageUnavailable => "storage_unavailable",
            Failure::Internal => "internal_error",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Failure::StorageUnavailable => "storage is unavailable; try again shortly",
            Failure::Internal => "keyward failed unexpectedly; the error is logged",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `400 invalid_input`, naming every bad field.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// `403 forbidden`: signed in, but the admin's role does not allow this.
    #[error("your role ({role}) does not allow this; it needs {required}")]
    Forbidden {
        role: AdminRole,
        required: AdminRole,
    },
    /// No token is configured, so no request can pass: say which setting to set.
    #[error("no {setting} is configured on this keyward, so every request is refused; set it and send it as `Authorization: Bearer <token>`")]
    NoTokenConfigured { setting: &'static str },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// `429 too_many_requests`: a per-address limit (key lookups) is reached; the handler adds
    /// `Retry-After`.
    #[error("too many lookups from this address; try again in a minute")]
    TooManyRequests,
    /// `409 counter_full`: a usage record would take a counter past 2^53 - 1; nothing of it was
    /// recorded (its lease is released), and repeating it cannot succeed.
    #[error(
        "usage counter `{counter}` would pass {MAX_COUNTER}; nothing of this record was recorded"
    )]
    CounterFull { counter: String },
    /// A storage outage or an internal error (already logged).
    #[error("{}", .0.message())]
    Failed(Failure),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid(FieldError::new(field, message).into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized | ApiError::NoTokenConfigured { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::CounterFull { .. } => StatusCode::CONFLICT,
            ApiError::Failed(failure) => failure.status(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::PayloadTooLarge(_) => "invalid_input",
            ApiError::Unauthorized | ApiError::NoTokenConfigured { .. } => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::TooManyRequests => "too_many_requests",
            ApiError::NotFound(_) => "not_found",
            ApiError::CounterFull { .. } => "counter_full",
            ApiError::Failed(failure) => failure.code(),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        ApiError::Invalid(error.into())
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        ApiError::Invalid(errors)
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match Failure::classify(error) {
            Ok(failure) => ApiError::Failed(failure),
            Err(fields) => ApiError::Invalid(fields),
        }
    }
}

/// `{"error": {...}}`, the body of every API error.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    /// What went wrong, for programs: `invalid_input`, `unauthorized`, `forbidden`,
    /// `not_found`, `too_many_requests`, `counter_full`, `storage_unavailable`,
    /// `internal_error`, or a verify's refusal code.
    pub code: &'a str,
    /// What went wrong, for people.
    pub message: String,
    /// The first bad field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    /// Every bad field with its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub fields: Option<BTreeMap<&'a str, &'a str>>,
    /// The full usage counter (`counter_full`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counter: Option<&'a str>,
}

impl<'a> ErrorDetail<'a> {
    /// An error that names no field.
    pub fn new(code: &'a str, message: impl Into<String>) -> ErrorDetail<'a> {
        ErrorDetail {
            code,
            message: message.into(),
            field: None,
            fields: None,
            counter: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = match &self {
            ApiError::Invalid(errors) => {
                let mut fields = BTreeMap::new();
                for error in errors.iter() {
                    fields
                        .entry(error.field.as_str())
                        .or_insert(error.message.as_str());
                }
                ErrorDetail {
                    code: self.code(),
                    message: errors.first().message.clone(),
                    field: Some(errors.first().field.as_str()),
                    fields: Some(fields),
                    counter: None,
                }
            }
            ApiError::CounterFull { counter } => ErrorDetail {
                counter: Some(counter),
                ..ErrorDetail::new(self.code(), self.to_string())
            },
            ApiError::Failed(failure) => ErrorDetail::new(failure.code(), failure.message()),
            other => ErrorDetail::new(other.code(), other.to_string()),
        };
        (self.status(), Json(ErrorBody { error: detail })).into_response()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// Dashboard failures, shown as a page that says what happened and what to do.
#[derive(Debug)]
pub enum PageError {
    Failed(Failure),
    NotFound,
    Forbidden(&'static str),
    BadRequest(String),
}

pub type PageResult<T = Response> = Result<T, PageError>;

impl From<ServiceError> for PageError {
    fn from(error: ServiceError) -> Self {
        match Failure::classify(error) {
            Ok(failure) => PageError::Failed(failure),
            Err(fields) => PageError::BadRequest(fields.to_string()),
        }
    }
}

impl From<tower_sessions::session::Error> for PageError {
    fn from(error: tower_sessions::session::Error) -> Self {
        Failure::StorageUnavailable.log(&error);
        PageError::Failed(Failure::StorageUnavailable)
    }
}

/// For input the pages parse with the API's parsers (the list query).
impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Failed(failure) => PageError::Failed(failure),
            ApiError::NotFound(_) => PageError::NotFound,
            other => PageError::BadRequest(other.to_string()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            PageError::Failed(failure @ Failure::StorageUnavailable) => (
                failure.status(),
                "Storage unavailable",
                "keyward cannot reach Redis right now. Nothing was changed. Reload this page in a few seconds.",
            ),
            PageError::Failed(failure @ Failure::Internal) => (
                failure.status(),
                "Something went wrong",
                "keyward failed unexpectedly; the error is in its log. Reload the page to see what was saved, and tell the operator if it happens again.",
            ),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing at this address.",
            ),
            PageError::Forbidden(why) => (StatusCode::FORBIDDEN, "Refused", *why),
            PageError::BadRequest(why) => (StatusCode::BAD_REQUEST, "Bad request", why.as_str()),
        };
        (status, ErrorPage { title, message }).into_response()
    }
}
