//! The operations of keyward, as claude-relay-service's apiKeyService offers them.

pub mod admins;
mod error;
pub mod keys;
pub mod passwords;

pub use admins::{AdminChange, AdminService, AdminSummary, SignIn};
pub use error::{ServiceError, ServiceResult};
pub use keys::{KeyService, OwnKeyLookup, UsageOutcome, Verified, VerifyInput};
