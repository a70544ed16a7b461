//! Dashboard administrators: argon2id password hashes, never the passwords.

use redis::AsyncCommands;

use super::names;
use super::{Store, StoreResult};

#[derive(Debug, Clone)]
pub struct AdminRecord {
    pub username: String,
    pub password_hash: String,
}

impl Store {
    pub async fn admin(&self, username: &str) -> StoreResult<Option<AdminRecord>> {
        let mut conn = self.conn();
        let key = names::admin(username);
        let hash: Option<String> = self
            .bounded(async move { conn.hget(key, "passwordHash").await })
            .await?;
        Ok(hash.map(|password_hash| AdminRecord {
            username: username.to_string(),
            password_hash,
        }))
    }

    /// Stores the first password of an admin; `false` when the admin already exists.
    pub async fn create_admin(&self, username: &str, password_hash: &str) -> StoreResult<bool> {
        let mut conn = self.conn();
        let key = names::admin(username);
        let hash = password_hash.to_string();
        self.bounded(async move { conn.hset_nx(key, "passwordHash", hash).await })
            .await
    }

    pub async fn set_admin_password(&self, username: &str, password_hash: &str) -> StoreResult<()> {
        let mut conn = self.conn();
        let key = names::admin(username);
        let hash = password_hash.to_string();
        self.bounded(async move { conn.hset::<_, _, _, ()>(key, "passwordHash", hash).await })
            .await
    }
}
