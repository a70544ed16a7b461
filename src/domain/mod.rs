//! Pure types and rules of keyward: no I/O.

pub mod audit;
pub mod budgets;
pub mod clients;
pub mod ids;
pub mod imported;
pub mod key;
pub mod key_fields;
pub mod listing;
pub mod listing_index;
pub mod money;
pub mod pricing;
pub mod ranked;
pub mod refusal;
pub mod request_log;
pub mod role;
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

/// Every field that failed validation, in the order found; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldErrors {
    first: FieldError,
    rest: Vec<FieldError>,
}

impl FieldErrors {
    /// `Ok(value)` when `errors` is empty, else every error.
    pub fn check<T>(value: T, errors: Vec<FieldError>) -> Result<T, FieldErrors> {
        let mut errors = errors.into_iter();
        match errors.next() {
            None => Ok(value),
            Some(first) => Err(FieldErrors {
                first,
                rest: errors.collect(),
            }),
        }
    }

    /// The first bad field (an API answer names it as `field`).
    pub fn first(&self) -> &FieldError {
        &self.first
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        std::iter::once(&self.first).chain(&self.rest)
    }
}

impl IntoIterator for FieldErrors {
    type Item = FieldError;
    type IntoIter = std::iter::Chain<std::iter::Once<FieldError>, std::vec::IntoIter<FieldError>>;

    fn into_iter(self) -> Self::IntoIter {
        std::iter::once(self.first).chain(self.rest)
    }
}

impl From<FieldError> for FieldErrors {
    fn from(first: FieldError) -> Self {
        FieldErrors {
            first,
            rest: Vec::new(),
        }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, error) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}
