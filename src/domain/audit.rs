//! The audit log's entries: who changed what, from where, with each changed field's values
//! before and after (never a secret or a hash).

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::ids::KeyId;

/// Who made a change: an admin's username (or `admin-api` for the admin token) and the
/// client address the request came from. The web layer knows both and passes them in.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub address: Option<IpAddr>,
}

/// Changed fields: name → `[before, after]` as JSON values (`null` when absent).
pub type Changes = BTreeMap<String, [serde_json::Value; 2]>;

/// An entry to append.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub actor: &'a Actor,
    /// `create`, `update`, `delete`, `restore`, `erase`, `regenerate`, `batch-create`,
    /// `batch-update`, `batch-delete`, `disable-expired`, `sign-in`, `sign-in-failed`, ...
    pub action: &'a str,
    pub key_id: Option<KeyId>,
    pub changes: Changes,
}

/// Actions whose entry is a key's first: the key did not exist before it.
pub const KEY_CREATING_ACTIONS: [&str; 3] = ["create", "batch-create", "import"];

/// An entry as stored; `id` orders entries (newest has the greatest) and pages them.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_ip: Option<String>,
    pub action: String,
    pub key_id: Option<String>,
    pub changes: Changes,
}

/// Which entries to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub key_id: Option<KeyId>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub limit: usize,
    /// Only entries older than this entry id (the previous page's `next`).
    pub before: Option<String>,
}

impl AuditQuery {
    /// Whether an entry passes the actor and action filters.
    pub fn wants(&self, entry: &AuditEntry) -> bool {
        self.actor.as_ref().is_none_or(|a| *a == entry.actor)
            && self.action.as_ref().is_none_or(|a| *a == entry.action)
    }
}

/// Whether `text` is an entry id as the log makes them (`<ms>-<seq>`), so a cursor from a
/// request is passed to Redis only in that shape.
pub fn is_entry_id(text: &str) -> bool {
    match text.split_once('-') {
        Some((ms, seq)) => {
            !ms.is_empty()
                && !seq.is_empty()
                && ms.len() <= 20
                && seq.len() <= 20
                && ms.bytes().all(|b| b.is_ascii_digit())
                && seq.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}
