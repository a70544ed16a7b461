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

/// "1" on a disabled admin: it cannot sign in, and its sessions ended when it was disabled.
const DISABLED: &str = "disabled";

static CREATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/create_admin.lua")));
static LEAVE_ROSTER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/admin_leave.lua")));
static UPDATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/update_admin.lua")));

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
    pub disabled: bool,
}
#[derive(Debug, Clone)]
pub struct AdminRecord {
    pub username: String,
    pub password_hash: String,
    pub session_epoch: u64,
    pub role: AdminRole,
    pub disabled: bool,
}

impl Store {
    pub async fn admin(&self, username: &str) -> StoreResult<Option<AdminRecord>> {
        let mut conn = self.conn();
        let key = names::admin(username);
        type Fields = (Option<String>, Option<u64>, Option<String>, Option<String>);
        let (hash, epoch, role, disabled): Fields = self
            .bounded(async move {
                conn.hmget(key, &[PASSWORD_HASH, SESSION_EPOCH, ROLE, DISABLED])
                    .await
            })
            .await?;
        Ok(hash.map(|password_hash| AdminRecord {
            username: username.to_string(),
            password_hash,
            session_epoch: epoch.unwrap_or(0),
            role: stored_role(role),
            disabled: disabled.as_deref() == Some("1"),
        }))
    }

    /// The admin's session epoch and role, or `None` when the admin does not exist (any more).
    pub async fn admin_session(&self, username: &str) -> StoreResult<Option<AdminSessionState>> {
        let mut conn = self.conn();
        let key = names::admin(username);
        let (exists, epoch, role, disabled): (bool, Option<u64>, Option<String>, Option<String>) =
            self.bounded(async move {
                redis::pipe()
                    .exists(&key)
                    .hget(&key, SESSION_EPOCH)
                    .hget(&key, ROLE)
                    .hget(&key, DISABLED)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(exists.then(|| AdminSessionState {
            session_epoch: epoch.unwrap_or(0),
            role: stored_role(role),
            disabled: disabled.as_deref() == Some("1"),
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

    /// Lists an admin (idempotent).
    pub async fn list_admin(&self, username: &str) -> StoreResult<()> {
        let mut conn = self.conn();
        let name = username.to_string();
        self.bounded(async move { conn.sadd(names::ADMINS, name).await })
            .await
    }

    /// Every listed admin's username, sorted.
    pub async fn admin_usernames(&self) -> StoreResult<Vec<String>> {
        let mut conn = self.conn();
        let mut usernames: Vec<String> = self
            .bounded(async move { conn.smembers(names::ADMINS).await })
            .await?;
        usernames.sort();
        Ok(usernames)
    }

    /// Joins the roster of active `admin`-role admins (idempotent). Call it only after the
    /// record says so: the roster must never list anyone who is not an active admin.
    pub async fn join_admin_roster(&self, username: &str) -> StoreResult<()> {
        let mut conn = self.conn();
        let name = username.to_string();
        self.bounded(async move { conn.sadd(names::ADMIN_ROSTER, name).await })
            .await
    }

    /// Leaves the roster unless this admin is the last one in it; `false` when refused. Call it
    /// before the record loses the role (demotion, disabling, removal).
    pub async fn leave_admin_roster(&self, username: &str) -> StoreResult<bool> {
        let mut conn = self.conn();
        let mut invocation = LEAVE_ROSTER.prepare_invoke();
        invocation.key(names::ADMIN_ROSTER).arg(username);
        let left: i64 = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Ok(left == 1)
    }

    async fn update_admin(
        &self,
        username: &str,
        field: &str,
        value: &str,
        end_sessions: bool,
    ) -> StoreResult<bool> {
        let mut conn = self.conn();
        let mut invocation = UPDATE.prepare_invoke();
        invocation
            .key(names::admin(username))
            .arg(field)
            .arg(value)
            .arg(if end_sessions { "1" } else { "0" });
        let updated: i64 = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Ok(updated == 1)
    }

    /// Sets an existing admin's role; `false` when there is no such admin.
    pub async fn set_admin_role(&self, username: &str, role: AdminRole) -> StoreResult<bool> {
        self.update_admin(username, ROLE, role.as_str(), false)
            .await
    }

    /// Disables (ending every session) or enables an existing admin; `false` when there is no
    /// such admin.
    pub async fn set_admin_disabled(&self, username: &str, disabled: bool) -> StoreResult<bool> {
        let value = if disabled { "1" } else { "0" };
        self.update_admin(username, DISABLED, value, disabled).await
    }

    /// Erases an admin's record (its sessions end with it) and takes it off the list.
    pub async fn delete_admin(&self, username: &str) -> StoreResult<()> {
        let mut conn = self.conn();
        let key = names::admin(username);
        let name = username.to_string();
        self.bounded(async move {
            let () = conn.del(key).await?;
            conn.srem(names::ADMINS, name).await
        })
        .await
    }
}
