//! The operations of keyward, as claude-relay-service's apiKeyService offers them.

pub mod admins;
mod error;
pub mod keys;
pub mod passwords;

pub use admins::{AdminChange, AdminService, AdminSummary, SignIn};
pub use error::{ServiceError, ServiceResult};
pub use keys::{KeyService, OwnKeyLookup, UsageOutcome, Verified, VerifyInput};
// How an extend moves an expiry, and what it did (the admin API names them).
pub use crate::store::{ExtendOutcome, Extension};
