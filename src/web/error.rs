//! API errors and how they become HTTP responses, in one place.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::domain::FieldError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid input: {0}")]
    Invalid(#[from] FieldError),
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
    #[error(transparent)]
    Storage(#[from] StoreError),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid(FieldError::new(field, message))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized | ApiError::NoTokenConfigured { .. } => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::PayloadTooLarge(_) => "invalid_input",
            ApiError::Unauthorized | ApiError::NoTokenConfigured { .. } => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::Storage(_) => "storage_unavailable",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Storage(error) => {
                tracing::error!(%error, "storage error");
                "storage is unavailable; try again shortly".to_string()
            }
            ApiError::Invalid(error) => error.message.clone(),
            other => other.to_string(),
        };
        let mut body = json!({"error": {"code": self.code(), "message": message}});
        if let ApiError::Invalid(error) = &self {
            body["error"]["field"] = json!(error.field);
        }
        (self.status(), Json(body)).into_response()
    }
}
