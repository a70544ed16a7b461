//! Dashboard administrators: argon2id password hashes, never the passwords, and the session
//! epoch that a password change moves on (a session signed in under an older epoch is over).

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};

use super::names;
use super::{Store, StoreResult};
use crate::domain::role::AdminRole;

const PASSWORD_HASH: &str = "passwordHash";
/// Counts password changes; absent on records made before it existed, which reads as 0.
const SESSION_EPOCH: &str = "sessionEpoch";
/// The admin's role; absent on records made before roles existed, which reads as `admin`
/// (the only admin there was had every right).
const ROLE: &str = "role";

static CREATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/create_admin.lua")));

/// A stored role; an absent or unknown one reads as `admin` (see [`ROLE`]).
fn stored_role(role: Option<String>) -> AdminRole {
    role.as_deref()
        .and_then(AdminRole::parse)
        .unwrap_or(AdminRole::Admin)
}

/// What every signed-in request checks about its admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminSessionState {
    pub session_epoch: u64,
    pub role: AdminRole,
}
#[derive(Debug, Clone)]
pub struct AdminRecord {
    pub username: String,
    pub password_hash: String,
    pub session_epoch: u64,
    pub role: AdminRole,
}

impl Store {
    pub async fn admin(&self, username: &str) -> StoreResult<Option<AdminRecord>> {
        let mut conn = self.conn();
        let key = names::admin(username);
        let (hash, epoch, role): (Option<String>, Option<u64>, Option<String>) = self
            .bounded(async move { conn.hmget(key, &[PASSWORD_HASH, SESSION_EPOCH, ROLE]).await })
            .await?;
        Ok(hash.map(|password_hash| AdminRecord {
            username: username.to_string(),
            password_hash,
            session_epoch: epoch.unwrap_or(0),
            role: stored_role(role),
        }))
    }

    /// The admin's session epoch and role, or `None` when the admin does not exist (any more).
    pub async fn admin_session(&self, username: &str) -> StoreResult<Option<AdminSessionState>> {
        let mut conn = self.conn();
        let key = names::admin(username);
        let (exists, epoch, role): (bool, Option<u64>, Option<String>) = self
            .bounded(async move {
                redis::pipe()
                    .exists(&key)
                    .hget(&key, SESSION_EPOCH)
                    .hget(&key, ROLE)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(exists.then(|| AdminSessionState {
            session_epoch: epoch.unwrap_or(0),
            role: stored_role(role),
        }))
    }

    /// Stores a new admin's first password and role; `false` when the admin already exists.
    pub async fn create_admin(
        &self,
        username: &str,
        password_hash: &str,
        role: AdminRole,
    ) -> StoreResult<bool> {
        let mut conn = self.conn();
        let mut invocation = CREATE.prepare_invoke();
        invocation
            .key(names::admin(username))
            .arg(password_hash)
            .arg(role.as_str());
        let created: i64 = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Ok(created == 1)
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
