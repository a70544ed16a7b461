//! Dashboard administrators: argon2id password hashes, never the passwords, and the session
//! epoch that a password change moves on (a session signed in under an older epoch is over).

use redis::AsyncCommands;

use super::names;
use super::{Store, StoreResult};

const PASSWORD_HASH: &str = "passwordHash";
/// Counts password changes; absent on records made before it existed, which reads as 0.
const SESSION_EPOCH: &str = "sessionEpoch";

#[derive(Debug, Clone)]
pub struct AdminRecord {
    pub username: String,
    pub password_hash: String,
    pub session_epoch: u64,
}

impl Store {
    pub async fn admin(&self, username: &str) -> StoreResult<Option<AdminRecord>> {
        let mut conn = self.conn();
        let key = names::admin(username);
        let (hash, epoch): (Option<String>, Option<u64>) = self
            .bounded(async move { conn.hmget(key, &[PASSWORD_HASH, SESSION_EPOCH]).await })
            .await?;
        Ok(hash.map(|password_hash| AdminRecord {
            username: username.to_string(),
            password_hash,
            session_epoch: epoch.unwrap_or(0),
        }))
    }

    /// The admin's session epoch, or `None` when the admin does not exist (any more).
    pub async fn admin_session_epoch(&self, username: &str) -> StoreResult<Option<u64>> {
        let mut conn = self.conn();
        let key = names::admin(username);
        let (exists, epoch): (bool, Option<u64>) = self
            .bounded(async move {
                redis::pipe()
                    .exists(&key)
                    .hget(&key, SESSION_EPOCH)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(exists.then(|| epoch.unwrap_or(0)))
    }

    /// Stores the first password of an admin; `false` when the admin already exists.
    pub async fn create_admin(&self, username: &str, password_hash: &str) -> StoreResult<bool> {
        let mut conn = self.conn();
        let key = names::admin(username);
        let hash = password_hash.to_string();
        self.bounded(async move { conn.hset_nx(key, PASSWORD_HASH, hash).await })
            .await
    }

    /// Replaces the password and moves the session epoch on in one step (so no session can be
    /// signed in with the new password under the old epoch); returns the new epoch.
    pub async fn set_admin_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> StoreResult<u64> {
        let mut conn = self.conn();
        let key = names::admin(username);
        let hash = password_hash.to_string();
        let (epoch,): (u64,) = self
            .bounded(async move {
                redis::pipe()
                    .atomic()
                    .hset(&key, PASSWORD_HASH, hash)
                    .ignore()
                    .hincr(&key, SESSION_EPOCH, 1)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(epoch)
    }
}
