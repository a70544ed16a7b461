//! Password hashing (argon2id), a few at a time: each hash or check holds ~19 MiB and tens of
//! milliseconds of a core, so unbounded parallel sign-ins would exhaust memory and CPU.

use std::sync::Arc;
use std::time::Duration;

use argon2::{Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

/// Most hashes at once when the setting asks for automatic sizing: beyond this, more cores
/// buy little for a dashboard sign-in and each hash costs 19 MiB.
const AUTO_MAX_CONCURRENCY: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// No hashing slot came free in time; nothing was hashed.
    #[error("password hashing is busy")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The process-wide bound on argon2 work. Every hash and check goes through it.
#[derive(Clone)]
pub struct PasswordHasher {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("free_slots", &self.slots.available_permits())
            .field("wait", &self.wait)
            .finish()
    }
}

/// `configured` hashes at once, or for 0 one per two available cores (1 to 4): sign-ins are
/// rare and a hash takes tens of milliseconds, so one slot already serves ~25 sign-ins a
/// second, while each slot holds argon2's ~19 MiB (the memory bound is what matters).
pub fn hash_concurrency(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    (std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        / 2)
    .clamp(1, AUTO_MAX_CONCURRENCY)
}

impl PasswordHasher {
    /// At most `concurrency` hashes at once; a caller waits at most `wait` for a slot.
    pub fn new(concurrency: usize, wait: Duration) -> PasswordHasher {
        PasswordHasher {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            wait,
        }
    }

    /// An argon2id hash (OWASP-recommended default parameters, random salt) in PHC form.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.to_string();
        self.run(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h: PasswordHash| h.to_string())
                .map_err(|e| HashError::Failed(e.to_string()))
        })
        .await?
    }

    /// Whether `password` matches `stored_hash`; an unreadable stored hash matches nothing.
    pub async fn verify(&self, password: &str, stored_hash: &str) -> Result<bool, HashError> {
        let password = password.to_string();
        let stored_hash = stored_hash.to_string();
        self.run(move || {
            PasswordHash::new(&stored_hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
    }

    /// Runs `job` on the blocking pool once a slot is free. The slot moves into the job, so a
    /// caller that gives up (a closed connection) cannot free it before the work is done.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let slot = match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            // Timed out, or the semaphore was closed (never done): either way, no slot.
            _ => {
                metrics::counter!("keyward_password_hashes_total", "outcome" => "busy")
                    .increment(1);
                return Err(HashError::Busy);
            }
        };
        metrics::counter!("keyward_password_hashes_total", "outcome" => "run").increment(1);
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            job()
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let hasher = PasswordHasher::new(1, Duration::from_secs(30));
        let hash = hasher.hash("correct horse").await.expect("hashed");
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher
            .verify("correct horse", &hash)
            .await
            .expect("checked"));
        assert!(!hasher.verify("wrong horse", &hash).await.expect("checked"));
        assert!(!hasher.verify("x", "not a hash").await.expect("checked"));
    }

    #[tokio::test]
    async fn a_caller_without_a_free_slot_is_told_busy_instead_of_waiting_on() {
        let hasher = PasswordHasher::new(1, Duration::from_millis(20));
        let held = hasher.slots.clone().acquire_owned().await.expect("slot");
        assert!(matches!(hasher.hash("pw").await, Err(HashError::Busy)));
        drop(held);
        assert!(hasher.hash("pw").await.is_ok());
    }

    #[test]
    fn automatic_concurrency_stays_between_one_and_four() {
        assert!((1..=AUTO_MAX_CONCURRENCY).contains(&hash_concurrency(0)));
        assert_eq!(hash_concurrency(7), 7);
    }
}
