//! The per-key request log (one entry per usage record, newest first, paged by entry id) and
//! today's usage per hour.

use chrono::{DateTime, Utc};

use super::money::NanoUsd;

/// Most entries one page of the log holds.
pub const MAX_PAGE: usize = 1000;

/// One usage record as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLogEntry {
    /// `<ms>-<seq>`: orders entries (the newest has the greatest) and pages them.
    pub id: String,
    pub at: DateTime<Utc>,
    /// The model as the relay reported it.
    pub model: String,
    /// The price table's model it was priced as.
    pub priced_as: String,
    pub account_id: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// 5-minute and 1-hour cache writes together.
    pub cache_create_tokens: u64,
    pub cache_read_tokens: u64,
    pub cost: NanoUsd,
}

/// Which part of a key's log to read: up to `limit` entries older than `before` (an entry id),
/// newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLogQuery {
    pub limit: usize,
    pub before: Option<String>,
}

/// A page of the log; `next` is the `before` of the following page, `None` at the oldest entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLogPage {
    pub entries: Vec<RequestLogEntry>,
    pub next: Option<String>,
}

/// One hour of today on the configured zone's wall clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourUsage {
    pub requests: u64,
    pub tokens: u64,
    pub cost: NanoUsd,
}

/// Today's 24 hours, from 00:00.
pub type HourlyUsage = [HourUsage; 24];
