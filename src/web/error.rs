//! Errors of the HTTP layer and how they become responses, in one place: the APIs' JSON errors,
//! and the classification of service failures that the dashboard's error pages share.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

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
    /// No token is configured, so no request can pass: say which setting to set.
    #[error("no {setting} is configured on this keyward, so every request is refused; set it and send it as `Authorization: Bearer <token>`")]
    NoTokenConfigured { setting: &'static str },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A storage outage or an internal error (already logged).
    #[error("{0:?}")]
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
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Failed(failure) => failure.status(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::PayloadTooLarge(_) => "invalid_input",
            ApiError::Unauthorized | ApiError::NoTokenConfigured { .. } => "unauthorized",
            ApiError::NotFound(_) => "not_found",
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

impl From<tower_sessions::session::Error> for ApiError {
    fn from(error: tower_sessions::session::Error) -> Self {
        Failure::StorageUnavailable.log(&error);
        ApiError::Failed(Failure::StorageUnavailable)
    }
}

/// `{"error": {...}}`, the body of every API error.
#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize)]
pub struct ErrorDetail<'a> {
    pub code: &'a str,
    pub message: String,
    /// The first bad field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    /// Every bad field with its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<&'a str, &'a str>>,
}

impl<'a> ErrorDetail<'a> {
    /// An error that names no field.
    pub fn new(code: &'a str, message: impl Into<String>) -> ErrorDetail<'a> {
        ErrorDetail {
            code,
            message: message.into(),
            field: None,
            fields: None,
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
                }
            }
            ApiError::Failed(failure) => ErrorDetail::new(failure.code(), failure.message()),
            other => ErrorDetail::new(other.code(), other.to_string()),
        };
        (self.status(), Json(ErrorBody { error: detail })).into_response()
    }
}
