//! What a service operation fails with, whoever called it (HTTP or the CLI): bad input, storage
//! that is down, or a bug. The web layer maps each to HTTP in one place.

use crate::domain::{FieldError, FieldErrors};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input breaks a rule; every bad field is named. Nothing was changed.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// Redis is unreachable, failing or too slow; the same call may work later.
    #[error("storage unavailable")]
    Storage(#[source] StoreError),
    /// A bug or a broken invariant; retrying will not help. `what` says which step failed.
    #[error("{what}")]
    Internal {
        what: &'static str,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl ServiceError {
    pub fn internal(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> ServiceError {
        ServiceError::Internal {
            what,
            source: Some(Box::new(source)),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        if error.is_outage() {
            ServiceError::Storage(error)
        } else {
            ServiceError::internal("storage answered in an unexpected shape", error)
        }
    }
}

impl From<FieldErrors> for ServiceError {
    fn from(errors: FieldErrors) -> Self {
        ServiceError::Invalid(errors)
    }
}

impl From<FieldError> for ServiceError {
    fn from(error: FieldError) -> Self {
        ServiceError::Invalid(error.into())
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
