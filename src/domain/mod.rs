//! Pure types and rules of keyward: no I/O.

pub mod clients;
pub mod ids;
pub mod key;
pub mod key_fields;
pub mod money;
pub mod pricing;
pub mod secret;
pub mod timezone;
pub mod usage;
pub mod username;
pub mod window;

/// Input that failed validation, naming the field as the API spells it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}
