//! Verify and admission (one script per call) and the concurrency leases it hands out.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use redis::Value;

use super::names::{KeyNames, WAKE_CHANNEL};
use super::records::decode_key;
use super::{decode, Store, StoreError, StoreResult, SCRIPTS};
use crate::domain::ids::{KeyId, LeaseId};
use crate::domain::key::{ApiKey, RateWindow};
use crate::domain::refusal::Refusal;

pub struct VerifyRequest<'a> {
    pub id: KeyId,
    pub secret_hash: &'a str,
    pub service: Option<&'a str>,
    /// The names a model restriction compares (see `PricingTable::restriction_names`); empty
    /// without a model.
    pub model_names: RuleInput<Vec<String>>,
    /// The client ids the User-Agent matched; empty without a User-Agent.
    pub matched_clients: RuleInput<Vec<&'a str>>,
    pub acquire: bool,
    pub lease_ttl: Duration,
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
    /// ms to add to `now` for the wall clock in the configured zone (weekly budgets).
    pub local_offset_ms: i64,
    /// The client address as `budgets::address_hex` writes it; `None` when not sent.
    pub client_ip_hex: Option<String>,
    /// The caller's copy of the record: the script then reads only what changes without a new
    /// revision, and does not send the record again while the revision is current.
    pub cached: Option<&'a RecordCopy>,
    /// When the request may wait for a slot: its place in the key's queue
    /// (`<deadline ms>:<waiter id>`), and the most waiters a key may have.
    pub waiter: Option<&'a str>,
    pub max_waiters: u64,
}

/// An input only a restriction reads. The caller may hold it back when its copy of the key's
/// record has no such restriction: working it out costs on every verify, and most keys have
/// none. Should the record have one now, the script answers [`Verdict::Resend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleInput<T> {
    Sent(T),
    HeldBack,
}

/// What the verify script decided.
// Returned once per verify and taken apart at once: boxing the admission would only add an
// allocation to the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Verdict {
    Admitted(Admission),
    Refused(ScriptRefusal),
    /// The key has a restriction whose input was held back: send the request again with it.
    Resend,
}

/// A refusal as the verify script sent it, with the wait it named in ms (0 when none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptRefusal {
    pub refusal: Refusal,
    pub wait_ms: i64,
    /// The key's weekly reset (day 1 = Monday, hour) with a weekly budget refusal; else (1, 0).
    pub week_reset: (u8, u8),
    /// A concurrency refusal of a waiting request that is now in the key's queue (wait for a
    /// wake-up or `wait_ms`, then try again); `false` when the refusal is final.
    pub queued: bool,
}

/// The record fields `verify.lua` reads, in the positions it reads them at (`f[1]`, `f[2]`, …);
/// written into the script where it says `--[[VERIFY_FIELDS]]`.
pub const VERIFY_FIELDS: [&str; 25] = [
    "hash",
    "isActive",
    "expiresAt",
    "permissions",
    "rev",
    "lastUsedAt",
    "deletedAt",
    "enableModelRestriction",
    "enableClientRestriction",
    "allowedIpsMatch",
    "dailyCostLimit",
    "weeklyCostLimit",
    "monthlyCostLimit",
    "totalCostLimit",
    "rateLimitWindow",
    "concurrencyLimit",
    "expirationMode",
    "rateLimitRequests",
    "tokenLimit",
    "rateLimitCost",
    "weeklyResetDay",
    "weeklyResetHour",
    "activatedAt",
    "activationDays",
    "activationUnit",
];

/// `verify.lua` with its field list written in.
pub(super) fn verify_script() -> String {
    let names = VERIFY_FIELDS.map(|name| format!("'{name}'")).join(", ");
    include_str!("scripts/verify.lua").replace("--[[VERIFY_FIELDS]]", &names)
}

/// One revision of a key's record as a verify holds it: the decoded key, and the fields the
/// verify script reads as stored (`''` for an absent one), which it sends back instead of the
/// script reading them again.
#[derive(Debug)]
pub struct RecordCopy {
    pub revision: u64,
    pub key: std::sync::Arc<ApiKey>,
    verify_fields: Box<[String]>,
}

impl RecordCopy {
    fn new(revision: u64, key: ApiKey, fields: &HashMap<String, String>) -> RecordCopy {
        RecordCopy {
            revision,
            key: std::sync::Arc::new(key),
            verify_fields: VERIFY_FIELDS
                .iter()
                .map(|name| fields.get(*name).cloned().unwrap_or_default())
                .collect(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Admission {
    /// `None` when the caller's copy is of the current revision.
    pub record: Option<std::sync::Arc<RecordCopy>>,
    pub revision: u64,
    pub last_used_at: Option<DateTime<Utc>>,
    pub lease: Option<(LeaseId, DateTime<Utc>)>,
    pub window: Option<RateWindow>,
    /// This admission started an activation-mode key's clock (its expiry changed).
    pub activated: bool,
}

/// `verify.lua`'s reply, decoded by name from the positions its header promises.
enum VerifyReply {
    Resend,
    Refused {
        code: String,
        wait_ms: i64,
        week_reset: (u8, u8),
        queued: bool,
    },
    Admitted(AdmittedReply),
}

struct AdmittedReply {
    /// 0 when no lease was taken.
    lease_expires_ms: i64,
    /// All 0 when no rate window is running.
    window_start_ms: i64,
    window_end_ms: i64,
    window_requests: i64,
    window_tokens: i64,
    /// The whole record; `None` when the caller's revision is current.
    record: Option<HashMap<String, String>>,
    revision: u64,
    /// 0 when never used.
    last_used_ms: i64,
    activated: bool,
}

impl VerifyReply {
    const FROM: &'static str = "verify.lua";

    fn decode(reply: &[Value]) -> StoreResult<VerifyReply> {
        let from = Self::FROM;
        match reply {
            [Value::BulkString(code), _] if code == b"resend" => Ok(VerifyReply::Resend),
            [code, wait_ms] => Ok(VerifyReply::Refused {
                code: decode(from, code)?,
                wait_ms: decode(from, wait_ms)?,
                week_reset: (1, 0),
                queued: false,
            }),
            [code, wait_ms, day, hour] => Ok(VerifyReply::Refused {
                code: decode(from, code)?,
                wait_ms: decode(from, wait_ms)?,
                week_reset: (decode(from, day)?, decode(from, hour)?),
                queued: false,
            }),
            [Value::BulkString(code), figures, record] if code == b"ok" => {
                let figures: String = decode(from, figures)?;
                let mut numbers = figures.split(' ').map(str::parse::<i64>);
                let mut next = |what: &str| match numbers.next() {
                    Some(Ok(number)) => Ok(number),
                    _ => Err(StoreError::unexpected(
                        from,
                        format!("the figures `{figures}` at {what}"),
                    )),
                };
                Ok(VerifyReply::Admitted(AdmittedReply {
                    lease_expires_ms: next("the lease expiry")?,
                    window_start_ms: next("the window start")?,
                    window_end_ms: next("the window end")?,
                    window_requests: next("the window requests")?,
                    window_tokens: next("the window tokens")?,
                    revision: u64::try_from(next("the revision")?).unwrap_or(0),
                    last_used_ms: next("the last use")?,
                    activated: next("the activation")? == 1,
                    record: match record {
                        Value::Int(0) => None,
                        fields => Some(decode(from, fields)?),
                    },
                }))
            }
            [code, wait_ms, queued] => Ok(VerifyReply::Refused {
                code: decode(from, code)?,
                wait_ms: decode(from, wait_ms)?,
                week_reset: (1, 0),
                queued: decode::<i64>(from, queued)? == 1,
            }),
            other => Err(StoreError::unexpected(
                from,
                format!("{} values, not 2, 3 or 4", other.len()),
            )),
        }
    }
}

/// What the script reads as a held-back input (`RuleInput::HeldBack`).
const HELD_BACK: &str = "?";

/// An instant from a script's milliseconds; 0 (or less) means none.
fn instant(ms: i64) -> Option<DateTime<Utc>> {
    (ms > 0)
        .then(|| DateTime::from_timestamp_millis(ms))
        .flatten()
}

impl Store {
    pub async fn verify(&self, request: VerifyRequest<'_>) -> StoreResult<Verdict> {
        let key = KeyNames::new(request.id);
        // Only an admission takes a lease.
        let lease = request.acquire.then(|| LeaseId::new(request.id));
        let matched = match &request.matched_clients {
            RuleInput::HeldBack => HELD_BACK.to_string(),
            RuleInput::Sent(clients) if clients.is_empty() => String::new(),
            RuleInput::Sent(clients) => format!(",{},", clients.join(",")),
        };
        let model_names = match &request.model_names {
            RuleInput::HeldBack => HELD_BACK.to_string(),
            RuleInput::Sent(names) if names.is_empty() => String::new(),
            RuleInput::Sent(names) => serde_json::to_string(names).unwrap_or_default(),
        };
        let mut invocation = SCRIPTS.verify.prepare_invoke();
        invocation
            .key(key.record())
            .key(key.leases())
            .key(key.window())
            .key(key.usage_day(request.today))
            .key(key.usage_month(request.today))
            .key(key.usage_total())
            .key(key.usage_week())
            .key(key.waiters())
            .key(key.waiter_seq())
            .arg(request.secret_hash)
            .arg(request.now.timestamp_millis())
            .arg(request.service.unwrap_or(""))
            .arg(model_names)
            .arg(matched)
            .arg(if request.acquire { "1" } else { "0" })
            .arg(lease.as_ref().map_or("", LeaseId::as_str))
            .arg(request.lease_ttl.as_millis() as u64)
            .arg(
                request
                    .cached
                    .map(|copy| copy.revision.to_string())
                    .unwrap_or_default(),
            )
            .arg(request.client_ip_hex.as_deref().unwrap_or(""))
            .arg(request.local_offset_ms)
            .arg(request.waiter.unwrap_or(""))
            .arg(request.max_waiters)
            .arg(WAKE_CHANNEL);
        if let Some(copy) = request.cached {
            for value in copy.verify_fields.iter() {
                invocation.arg(value.as_str());
            }
        }
        let mut conn = self.conn();
        let reply: Vec<Value> = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        let admitted = match VerifyReply::decode(&reply)? {
            VerifyReply::Resend => return Ok(Verdict::Resend),
            VerifyReply::Refused {
                code,
                wait_ms,
                week_reset,
                queued,
            } => {
                let refusal = Refusal::from_code(&code).ok_or_else(|| {
                    StoreError::unexpected(VerifyReply::FROM, format!("the code `{code}`"))
                })?;
                return Ok(Verdict::Refused(ScriptRefusal {
                    refusal,
                    wait_ms,
                    week_reset,
                    queued,
                }));
            }
            VerifyReply::Admitted(admitted) => admitted,
        };
        let record = match admitted.record {
            Some(fields) => match decode_key(request.id, &fields) {
                Some(key) => Some(std::sync::Arc::new(RecordCopy::new(
                    admitted.revision,
                    key,
                    &fields,
                ))),
                None => {
                    return Ok(Verdict::Refused(ScriptRefusal {
                        refusal: Refusal::NotFound,
                        wait_ms: 0,
                        week_reset: (1, 0),
                        queued: false,
                    }))
                }
            },
            None => None,
        };
        Ok(Verdict::Admitted(Admission {
            record,
            revision: admitted.revision,
            last_used_at: instant(admitted.last_used_ms),
            lease: lease.zip(instant(admitted.lease_expires_ms)),
            activated: admitted.activated,
            window: (admitted.window_end_ms > 0).then(|| RateWindow {
                start_ms: admitted.window_start_ms,
                end_ms: admitted.window_end_ms,
                requests: admitted.window_requests.max(0) as u64,
                tokens: admitted.window_tokens.max(0) as u64,
            }),
        }))
    }

    /// Extends a live lease; `None` when it is unknown or already expired.
    pub async fn renew_lease(
        &self,
        lease: &LeaseId,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let mut invocation = SCRIPTS.renew_lease.key(KeyNames::new(lease.key()).leases());
        invocation
            .arg(lease.as_str())
            .arg(now.timestamp_millis())
            .arg(ttl.as_millis() as u64);
        let mut conn = self.conn();
        let expires_ms: i64 = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Ok(instant(expires_ms))
    }

    /// Releases a lease (telling the key's first waiter); releasing an unknown one is not an
    /// error.
    pub async fn release_lease(&self, lease: &LeaseId) -> StoreResult<()> {
        let key = KeyNames::new(lease.key());
        let mut invocation = SCRIPTS.release_lease.key(key.leases());
        invocation
            .key(key.waiters())
            .arg(lease.as_str())
            .arg(0)
            .arg(WAKE_CHANNEL);
        let mut conn = self.conn();
        self.bounded(async move { invocation.invoke_async::<i64>(&mut conn).await })
            .await?;
        Ok(())
    }

    /// Drops every lease of a key (the slots a crashed relay left behind), telling its first
    /// waiter; returns how many were live.
    pub async fn release_all_leases(&self, id: KeyId, now: DateTime<Utc>) -> StoreResult<u64> {
        let key = KeyNames::new(id);
        let mut invocation = SCRIPTS.release_lease.key(key.leases());
        invocation
            .key(key.waiters())
            .arg("")
            .arg(now.timestamp_millis())
            .arg(WAKE_CHANNEL);
        let mut conn = self.conn();
        self.bounded(async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    /// Takes a waiter whose wait ran out out of its key's queue.
    pub async fn leave_queue(&self, id: KeyId, waiter: &str) -> StoreResult<()> {
        let mut invocation = SCRIPTS.leave_queue.key(KeyNames::new(id).waiters());
        invocation.arg(waiter).arg(WAKE_CHANNEL);
        let mut conn = self.conn();
        self.bounded(async move { invocation.invoke_async::<i64>(&mut conn).await })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn verify_replies_decode_by_name() {
        let admitted = [
            text("ok"),
            text("5000 1000 61000 3 40 7 0 0"),
            Value::Int(0),
        ];
        match VerifyReply::decode(&admitted) {
            Ok(VerifyReply::Admitted(reply)) => {
                assert_eq!(reply.lease_expires_ms, 5000);
                assert_eq!(reply.window_end_ms, 61000);
                assert_eq!(reply.window_tokens, 40);
                assert!(reply.record.is_none(), "the caller's revision is current");
                assert_eq!(reply.revision, 7);
                assert_eq!(reply.last_used_ms, 0);
            }
            _ => panic!("admitted"),
        }
        assert!(matches!(
            VerifyReply::decode(&[text("rate_limit"), Value::Int(1500)]),
            Ok(VerifyReply::Refused { code, wait_ms: 1500, .. }) if code == "rate_limit"
        ));
        assert!(matches!(
            VerifyReply::decode(&[text("resend"), Value::Int(0)]),
            Ok(VerifyReply::Resend)
        ));
        assert!(VerifyReply::decode(&[text("ok")]).is_err());
        let short = [text("ok"), text("5000 1000 61000"), Value::Int(0)];
        assert!(VerifyReply::decode(&short).is_err(), "figures missing");
        assert!(matches!(
            VerifyReply::decode(&[text("concurrency_limit"), Value::Int(900), Value::Int(1)]),
            Ok(VerifyReply::Refused {
                queued: true,
                wait_ms: 900,
                ..
            })
        ));
    }
}
