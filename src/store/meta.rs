//! Facts about the installation itself, kept beside the data they describe.

use redis::AsyncCommands;

use super::names;
use super::{Store, StoreResult};

/// How the encryption key in use compares with the one the stored key hashes were made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionKeyCheck {
    /// No check value was stored yet; this key's is stored now.
    Recorded,
    Matches,
    Differs,
}

impl Store {
    /// Compares `fingerprint` (derived from the encryption key, never the key itself) with the
    /// one stored at first start, storing it when there is none.
    pub async fn check_encryption_fingerprint(
        &self,
        fingerprint: &str,
    ) -> StoreResult<EncryptionKeyCheck> {
        let mut conn = self.conn();
        let name = names::ENCRYPTION_CHECK;
        let value = fingerprint.to_string();
        let recorded: bool = self
            .bounded(async move { conn.set_nx(name, value).await })
            .await?;
        if recorded {
            return Ok(EncryptionKeyCheck::Recorded);
        }
        let mut conn = self.conn();
        let stored: Option<String> = self.bounded(async move { conn.get(name).await }).await?;
        Ok(if stored.as_deref() == Some(fingerprint) {
            EncryptionKeyCheck::Matches
        } else {
            EncryptionKeyCheck::Differs
        })
    }
}
