//! Dashboard sessions in Redis, so a restart or a second instance keeps admins logged in.

use redis::AsyncCommands;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};

use super::names;
use super::Store;

/// A tower-sessions store over keyward's Redis connection (single node or cluster).
#[derive(Clone)]
pub struct RedisSessionStore {
    store: Store,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisSessionStore")
    }
}

impl RedisSessionStore {
    pub fn new(store: Store) -> RedisSessionStore {
        RedisSessionStore { store }
    }

    /// Writes the record to expire with the session; `only_if_new` refuses to overwrite.
    async fn write(&self, record: &Record, only_if_new: bool) -> Result<bool> {
        let value = serde_json::to_string(record).map_err(|e| Error::Encode(e.to_string()))?;
        let mut options = redis::SetOptions::default().with_expiration(redis::SetExpiry::EXAT(
            record.expiry_date.unix_timestamp().max(1) as u64,
        ));
        if only_if_new {
            options = options.conditional_set(redis::ExistenceCheck::NX);
        }
        let mut conn = self.store.conn();
        let key = names::session(&record.id.to_string());
        let written: Option<String> = self
            .store
            .bounded(async move { conn.set_options(key, value, options).await })
            .await
            .map_err(|e| Error::Backend(e.to_string()))?;
        Ok(written.is_some())
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        // A fresh random id colliding is astronomically unlikely; still, never overwrite.
        while !self.write(record, true).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<()> {
        self.write(record, false).await.map(|_| ())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let mut conn = self.store.conn();
        let key = names::session(&id.to_string());
        let value: Option<String> = self
            .store
            .bounded(async move { conn.get(key).await })
            .await
            .map_err(|e| Error::Backend(e.to_string()))?;
        value
            .map(|v| serde_json::from_str(&v).map_err(|e| Error::Decode(e.to_string())))
            .transpose()
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        let mut conn = self.store.conn();
        let key = names::session(&id.to_string());
        self.store
            .bounded(async move { conn.del::<_, i64>(key).await })
            .await
            .map_err(|e| Error::Backend(e.to_string()))?;
        Ok(())
    }
}
