//! Dashboard administrators: first-start bootstrap, password checks and resets (argon2id).

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

use crate::domain::secret::random_password;
use crate::store::{Store, StoreError, StoreResult};

const GENERATED_PASSWORD_CHARS: usize = 24;
/// Failed sign-ins allowed per client address and username within the period.
const MAX_FAILURES: u64 = 5;
const FAILURE_PERIOD_SECS: u64 = 15 * 60;

/// The outcome of a dashboard sign-in attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum SignIn {
    Accepted,
    Refused,
    /// Too many recent failures from this address for this username; wait this long.
    Throttled {
        retry_minutes: u64,
    },
}

#[derive(Clone)]
pub struct AdminService {
    store: Store,
}

/// What the first start did about the admin account.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    AlreadyThere,
    CreatedFromSetting,
    /// The password to print once; it is stored only as a hash.
    CreatedWithGenerated(String),
}

fn hashing_failed(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("password hashing failed: {error}"))
}

/// argon2id with the crate's default (OWASP-recommended) parameters and a random salt; run on
/// the blocking pool because it deliberately takes tens of milliseconds.
pub async fn hash_password(password: String) -> StoreResult<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h: PasswordHash| h.to_string())
            .map_err(hashing_failed)
    })
    .await
    .map_err(hashing_failed)?
}

async fn password_matches(password: String, stored_hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored_hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

impl AdminService {
    pub fn new(store: Store) -> AdminService {
        AdminService { store }
    }

    /// Makes sure the admin exists: with `initial_password` when given, else a generated one.
    pub async fn bootstrap(
        &self,
        username: &str,
        initial_password: Option<&str>,
    ) -> StoreResult<Bootstrap> {
        if self.store.admin(username).await?.is_some() {
            return Ok(Bootstrap::AlreadyThere);
        }
        let (password, generated) = match initial_password {
            Some(p) => (p.to_string(), false),
            None => (random_password(GENERATED_PASSWORD_CHARS), true),
        };
        let hash = hash_password(password.clone()).await?;
        if !self.store.create_admin(username, &hash).await? {
            return Ok(Bootstrap::AlreadyThere);
        }
        Ok(if generated {
            Bootstrap::CreatedWithGenerated(password)
        } else {
            Bootstrap::CreatedFromSetting
        })
    }

    /// Whether `password` is the admin's. Unknown users cost a hash too, so timing does not
    /// reveal which usernames exist.
    pub async fn check_password(&self, username: &str, password: &str) -> StoreResult<bool> {
        match self.store.admin(username).await? {
            Some(admin) => Ok(password_matches(password.to_string(), admin.password_hash).await),
            None => {
                let _ = hash_password(password.to_string()).await;
                Ok(false)
            }
        }
    }

    /// Checks a sign-in, counting failures per client address and username, so guessing is
    /// limited to a few tries per period (even the right password waits once throttled).
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: std::net::IpAddr,
    ) -> StoreResult<SignIn> {
        let scope = format!("{client}|{}", username.to_lowercase());
        let (failures, retry_secs) = self.store.login_failures(&scope).await?;
        if failures >= MAX_FAILURES {
            return Ok(SignIn::Throttled {
                retry_minutes: retry_secs.div_ceil(60).max(1),
            });
        }
        if !username.is_empty() && self.check_password(username, password).await? {
            self.store.clear_login_failures(&scope).await?;
            return Ok(SignIn::Accepted);
        }
        self.store
            .add_login_failure(&scope, FAILURE_PERIOD_SECS)
            .await?;
        Ok(SignIn::Refused)
    }

    pub async fn reset_password(&self, username: &str, password: &str) -> StoreResult<()> {
        let hash = hash_password(password.to_string()).await?;
        self.store.set_admin_password(username, &hash).await
    }
}
