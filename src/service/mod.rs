//! The operations of keyward, as claude-relay-service's apiKeyService offers them.

pub mod admins;
pub mod keys;
pub mod passwords;

pub use admins::{AdminService, SignIn};
pub use keys::{KeyService, UsageOutcome, Verified, VerifyInput};
