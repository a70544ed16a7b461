//! Keys brought over from another key service (`keyward import`).

use chrono::Utc;

use super::KeyService;
use crate::domain::imported::{ImportOutcome, ImportedKey};
use crate::service::ServiceResult;

impl KeyService {
    /// Writes an imported key whole, or says why it did not (it exists, the same or different;
    /// its secret belongs to another key).
    pub async fn import(&self, key: &ImportedKey) -> ServiceResult<ImportOutcome> {
        let now = Utc::now();
        let outcome = self
            .inner
            .store
            .import_key(key, now, self.today(now))
            .await?;
        if outcome == ImportOutcome::Imported {
            tracing::info!(key_id = %key.id, "key imported");
        }
        Ok(outcome)
    }

    /// The prefix of every key this service issues and accepts.
    pub fn key_prefix(&self) -> &str {
        &self.inner.key_prefix
    }
}
