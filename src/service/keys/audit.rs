//! The audit log of admin writes and sign-ins, kept beside the keys.

use chrono::Utc;

use super::KeyService;
use crate::domain::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use crate::service::ServiceResult;

impl KeyService {
    /// Appends an entry. A change already made is not undone when the log cannot be written:
    /// the failure is logged (with who and what) and the caller carries on.
    pub async fn record_audit(&self, entry: NewAuditEntry<'_>) {
        if let Err(error) = self
            .inner
            .store
            .append_audit(&entry, self.inner.audit, Utc::now())
            .await
        {
            tracing::warn!(%error, actor = %entry.actor.name, action = entry.action,
                key_id = ?entry.key_id.map(|id| id.to_string()), "audit entry not written");
        }
    }

    /// Entries newest first, and the cursor of the next page when there may be one.
    pub async fn audit_entries(
        &self,
        query: &AuditQuery,
    ) -> ServiceResult<(Vec<AuditEntry>, Option<String>)> {
        Ok(self.inner.store.audit_entries(query).await?)
    }
}
