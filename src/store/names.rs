//! Every Redis key name keyward uses. Names in one `{…}` hash tag share a cluster slot, so the
//! scripts that touch them together also work on Redis Cluster:
//! - `{k:<id>}`: one API key's record, leases, rate window and usage;
//! - `{idx}`: the indexes that span keys (listing, search, tags, accounts, account usage);
//! - `kw:login:{<address>}`: the sign-in attempt counters of one client address;
//! - `{admins}`: the list of admins and the roster of active `admin`-role admins;
//! - the secret-hash lookups and admin records each stand alone.

use chrono::NaiveDate;

use crate::domain::ids::KeyId;

/// A fingerprint of the encryption key the stored hashes were made with (see `store::meta`).
pub const ENCRYPTION_CHECK: &str = "kw:meta:encryption-check";

pub fn secret_lookup(secret_hash: &str) -> String {
    format!("kw:sh:{secret_hash}")
}

pub fn admin(username: &str) -> String {
    format!("kw:admin:{username}")
}

/// Every admin's username (for the admin list); `{admins}` keeps it with the roster.
pub const ADMINS: &str = "kw:{admins}:all";

/// The usernames of active `admin`-role admins, which the last-admin rule counts atomically.
pub const ADMIN_ROSTER: &str = "kw:{admins}:roster";

pub fn session(id: &str) -> String {
    format!("kw:session:{id}")
}

/// Sign-in attempts from one client address (`scope`: an IPv4 address or an IPv6 /64); the
/// `{scope}` tag puts it in one slot with the per-username counters of the same address.
pub fn login_attempts_by_address(scope: &str) -> String {
    format!("kw:login:{{{scope}}}:addr")
}

/// Key lookups (the holders' page) from one client address in the current minute.
pub fn self_lookups_by_address(scope: &str) -> String {
    format!("kw:lookup:{{{scope}}}")
}

/// Sign-in attempts from one client address for one (lower-cased) username.
pub fn login_attempts_by_user(scope: &str, username: &str) -> String {
    format!("kw:login:{{{scope}}}:user:{username}")
}

/// The channel a released slot is announced on, with the waiter at the head of the key's queue
/// as the message (PUBLISH reaches every node of a cluster, and every instance subscribes).
pub const WAKE_CHANNEL: &str = "kw:wake";
/// The audit log (a capped stream); with the per-key names below it shares the `{audit}`
/// slot, so one script appends to all of them.
pub const AUDIT_LOG: &str = "kw:{audit}:log";

/// One key's audit history after its creation: a capped list, newest first, of compact copies
/// of its log entries (same entry ids); see `append_audit.lua`.
pub fn audit_history(key_id: &str) -> String {
    format!("kw:{{audit}}:h:{key_id}")
}

/// The log entry that created each key (hash: key id -> entry id), as the previous release
/// kept it. Keys created since keep that id in their record (`records::CREATION_AUDIT_ID`);
/// this hash is read for older keys, and loses a key's entry when its history list starts (which
/// copies the creation entry), when it is erased, or when its id is created again.
pub const LEGACY_AUDIT_CREATIONS: &str = "kw:{audit}:created";

/// One key's audit entries as the previous release kept them (a capped stream with copies of
/// the log's entries). Read, never written: they expire by themselves.
pub fn legacy_audit_stream(key_id: &str) -> String {
    format!("kw:{{audit}}:key:{key_id}")
}

/// Appends `YYYY-MM-DD` (or `YYYY-MM`), as chrono's `%Y-%m-%d` writes years 0–9999.
fn push_date(out: &mut String, date: NaiveDate, with_day: bool) {
    use chrono::Datelike;
    push_padded(out, date.year().max(0) as u32, 4);
    out.push('-');
    push_padded(out, date.month(), 2);
    if with_day {
        out.push('-');
        push_padded(out, date.day(), 2);
    }
}

fn push_padded(out: &mut String, value: u32, width: usize) {
    let text = value.to_string();
    for _ in text.len()..width {
        out.push('0');
    }
    out.push_str(&text);
}

/// Names of one key's data.
pub struct KeyNames {
    tag: String,
}

impl KeyNames {
    pub fn new(id: KeyId) -> KeyNames {
        KeyNames {
            tag: format!("kw:{{k:{id}}}"),
        }
    }
    // The names are built by appending, not with `format!` and chrono's `format`: a verify
    // builds nine of them, and the formatting machinery showed in its profile.
    fn with(&self, suffix: &str) -> String {
        let mut name = String::with_capacity(self.tag.len() + suffix.len());
        name.push_str(&self.tag);
        name.push_str(suffix);
        name
    }
    /// `<tag><infix>YYYY-MM-DD` (or `YYYY-MM` without the day).
    fn dated(&self, infix: &str, date: NaiveDate, with_day: bool) -> String {
        let mut name = self.with(infix);
        push_date(&mut name, date, with_day);
        name
    }
    pub fn record(&self) -> String {
        self.with(":key")
    }
    pub fn leases(&self) -> String {
        self.with(":leases")
    }
    pub fn window(&self) -> String {
        self.with(":window")
    }
    pub fn periods(&self) -> String {
        self.with(":periods")
    }
    pub fn usage_total(&self) -> String {
        self.with(":u:total")
    }
    pub fn usage_day(&self, date: NaiveDate) -> String {
        self.dated(":u:d:", date, true)
    }
    pub fn usage_month(&self, date: NaiveDate) -> String {
        self.dated(":u:m:", date, false)
    }
    /// This week's cost: `{week, cost}`, where `week` is the week's start on the local wall
    /// clock (ms) by the key's reset day and hour; a new week overwrites it.
    pub fn usage_week(&self) -> String {
        self.with(":u:week")
    }
    /// Requests waiting for a concurrency slot, first come first served (sorted set: member
    /// `<deadline ms>:<waiter id>` -> arrival number).
    pub fn waiters(&self) -> String {
        self.with(":waiters")
    }
    /// The arrival counter of the waiters.
    pub fn waiter_seq(&self) -> String {
        self.with(":waiter-seq")
    }
    pub fn usage_day_by_model(&self, date: NaiveDate) -> String {
        self.dated(":u:dm:", date, true)
    }
    /// Today's usage per hour of the configured zone's wall clock: fields `<hour>:r` (requests),
    /// `<hour>:t` (tokens), `<hour>:c` (cost, nano-USD); kept two days.
    pub fn usage_hours(&self, date: NaiveDate) -> String {
        self.dated(":u:h:", date, true)
    }
    /// The newest usage records of the key, one stream entry each (see `record_usage.lua`).
    pub fn request_log(&self) -> String {
        self.with(":log")
    }
    /// A usage record's idempotency marker: the first answer's figures, kept 24 hours. The
    /// request id follows the hash tag, so whatever it contains cannot move the slot.
    pub fn request_marker(&self, request_id: &str) -> String {
        format!("{}:req:{request_id}", self.tag)
    }
}

/// Names of the cross-key indexes; all in the `{idx}` slot.
pub mod index {
    use chrono::NaiveDate;

    /// Each key's row (hash: id ->
    /// `revision:created ms \t lowercase name \t tags JSON \t accounts JSON`): what the
    /// listing index loads, the revision that orders index writes, and the accounts to unbind
    /// on a change. A soft-deleted key keeps a row with its revision only (`revision \t\t[]\t[]`).
    ///
    /// The previous release's rows lack `:created ms` (it kept the creation time in
    /// `LEGACY_CREATED`); the first field, up to the first tab, tells them apart: it is written
    /// by keyward alone (digits, then `:` and digits in the new form), before any user text.
    /// The release before that had no row but an entry in each of four hashes (`REVISIONS`,
    /// `NAMES`, `KEY_TAGS`, `KEY_ACCOUNTS`). A key's next index write moves it to the new row.
    pub const ROWS: &str = "kw:{idx}:rows";
    /// The previous releases' creation times (sorted set: id -> created ms). Read for keys not
    /// moved yet (see `ROWS`); a key leaves it when its row is rewritten or it is removed.
    pub const LEGACY_CREATED: &str = "kw:{idx}:created";
    /// Last use of the keys used at least once (a key never used has no entry).
    pub const LAST_USED: &str = "kw:{idx}:lastused";
    pub const DISABLED: &str = "kw:{idx}:disabled";
    pub const EXPIRES: &str = "kw:{idx}:expires";
    pub const ACCOUNTS: &str = "kw:{idx}:accounts";
    /// The previous release's per-key hashes (id -> revision, lowercase name, tags JSON,
    /// accounts JSON). Read for a key not moved yet; its next index write moves it to `ROWS`.
    pub const REVISIONS: &str = "kw:{idx}:rev";
    pub const NAMES: &str = "kw:{idx}:names";
    pub const KEY_TAGS: &str = "kw:{idx}:keytags";
    pub const KEY_ACCOUNTS: &str = "kw:{idx}:keyaccounts";
    /// Prefixes completed inside scripts (same slot, so scripts may build them).
    pub const ACCOUNT_KEYS_PREFIX: &str = "kw:{idx}:accountkeys:";
    pub const REQUEST_MARKERS_PREFIX: &str = "kw:{idx}:reqs:";
    /// Every change to the listing indexes, in the order applied (a capped stream): each
    /// instance's in-process listing index follows it (see `service::keys::listing`).
    pub const CHANGES: &str = "kw:{idx}:changes";
    /// About how many entries `CHANGES` keeps (`MAXLEN ~`); `record_ledger.lua` and
    /// `undo_ledger.lua` spell the same number. An instance further behind reloads its index.
    pub const CHANGES_CAP: u64 = 200_000;
    /// Soft-deleted keys (sorted set: id -> deleted at ms); they are in no other index.
    pub const DELETED: &str = "kw:{idx}:deleted";

    /// The indexes `index_upsert.lua` and `index_remove.lua` keep one entry of each key in,
    /// the change stream, and the previous releases' per-key indexes they move keys out of, as
    /// their `KEYS[1..11]` in this order. (Name, tag and status queries run in each
    /// instance's listing index, so there is no name or tag index here.)
    pub const PER_KEY: [&str; 11] = [
        ROWS,
        LEGACY_CREATED,
        LAST_USED,
        DISABLED,
        EXPIRES,
        ACCOUNTS,
        CHANGES,
        REVISIONS,
        NAMES,
        KEY_TAGS,
        KEY_ACCOUNTS,
    ];
    pub fn account_keys(account: &str) -> String {
        format!("{ACCOUNT_KEYS_PREFIX}{account}")
    }
    /// One key's usage records applied to the ledger, by request id (sorted set: request id ->
    /// expiry ms), so a retried record is applied here once.
    pub fn request_markers(key_id: &str) -> String {
        format!("{REQUEST_MARKERS_PREFIX}{key_id}")
    }
    pub fn cost_on(date: NaiveDate) -> String {
        format!("kw:{{idx}}:cost:{}", date.format("%Y-%m-%d"))
    }
    pub fn account_day(account: &str, date: NaiveDate) -> String {
        format!("kw:{{idx}}:acct:{account}:d:{}", date.format("%Y-%m-%d"))
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn dated_names_read_as_chrono_writes_them() {
        let id = KeyId::new();
        let names = KeyNames::new(id);
        for (y, m, d) in [(2026, 1, 5), (2026, 12, 31), (987, 7, 9), (10, 10, 10)] {
            let date = NaiveDate::from_ymd_opt(y, m, d).expect("a date");
            let tag = format!("kw:{{k:{id}}}");
            assert_eq!(
                names.usage_day(date),
                format!("{tag}:u:d:{}", date.format("%Y-%m-%d"))
            );
            assert_eq!(
                names.usage_month(date),
                format!("{tag}:u:m:{}", date.format("%Y-%m"))
            );
            assert_eq!(
                names.usage_hours(date),
                format!("{tag}:u:h:{}", date.format("%Y-%m-%d"))
            );
            assert_eq!(names.record(), format!("{tag}:key"));
        }
    }
}
