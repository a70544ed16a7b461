//! Verify and admission (one script per call) and the concurrency leases it hands out.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use redis::{AsyncCommands, Value};

use super::names::KeyNames;
use super::records::decode_key;
use super::{Store, StoreResult, SCRIPTS};
use crate::domain::ids::{KeyId, LeaseId};
use crate::domain::key::{ApiKey, RateWindow};

pub struct VerifyRequest<'a> {
    pub id: KeyId,
    pub secret_hash: &'a str,
    pub service: Option<&'a str>,
    /// The names a model restriction compares (see `PricingTable::restriction_names`); empty
    /// without a model.
    pub model_names: Vec<String>,
    pub matched_clients: Vec<&'a str>,
    pub acquire: bool,
    pub lease_ttl: Duration,
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
    /// The record revision the caller has cached; the record is then not sent again.
    pub cached_revision: Option<u64>,
}

/// Why a verify was refused; the codes are the relay API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InvalidFormat,
    NotFound,
    Disabled,
    Expired,
    PermissionDenied,
    ModelNotAllowed,
    ClientNotAllowed,
    DailyCostLimit,
    RateLimit { retry_after_ms: i64 },
    TokenLimit { retry_after_ms: i64 },
    ConcurrencyLimit { retry_after_ms: i64 },
}

impl Refusal {
    fn from_script(code: &str, retry_after_ms: i64) -> Refusal {
        match code {
            "disabled" => Refusal::Disabled,
            "expired" => Refusal::Expired,
            "permission_denied" => Refusal::PermissionDenied,
            "model_not_allowed" => Refusal::ModelNotAllowed,
            "client_not_allowed" => Refusal::ClientNotAllowed,
            "daily_cost_limit" => Refusal::DailyCostLimit,
            "rate_limit" => Refusal::RateLimit { retry_after_ms },
            "token_limit" => Refusal::TokenLimit { retry_after_ms },
            "concurrency_limit" => Refusal::ConcurrencyLimit { retry_after_ms },
            _ => Refusal::NotFound,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Admission {
    /// `None` when the caller's cached revision is current.
    pub key: Option<ApiKey>,
    pub revision: u64,
    pub last_used_at: Option<DateTime<Utc>>,
    pub lease: Option<(LeaseId, DateTime<Utc>)>,
    pub window: Option<RateWindow>,
}

/// An integer from a script reply, whether Lua returned it as a number or as the text of a
/// hash field; 0 when absent.
fn int(value: Option<&Value>) -> i64 {
    value
        .and_then(|v| redis::from_redis_value_ref::<i64>(v).ok())
        .unwrap_or(0)
}

impl Store {
    pub async fn verify(
        &self,
        request: VerifyRequest<'_>,
    ) -> StoreResult<Result<Admission, Refusal>> {
        let key = KeyNames::new(request.id);
        let lease = LeaseId::new(request.id);
        let matched = if request.matched_clients.is_empty() {
            String::new()
        } else {
            format!(",{},", request.matched_clients.join(","))
        };
        let model_names = if request.model_names.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&request.model_names).unwrap_or_default()
        };
        let mut invocation = SCRIPTS.verify.prepare_invoke();
        invocation
            .key(key.record())
            .key(key.leases())
            .key(key.window())
            .key(key.usage_day(request.today))
            .arg(request.secret_hash)
            .arg(request.now.timestamp_millis())
            .arg(request.service.unwrap_or(""))
            .arg(model_names)
            .arg(matched)
            .arg(if request.acquire { "1" } else { "0" })
            .arg(lease.as_str())
            .arg(request.lease_ttl.as_millis() as u64)
            .arg(
                request
                    .cached_revision
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
            );
        let mut conn = self.conn();
        let reply: Vec<Value> = self
            .bounded(async move { invocation.invoke_async(&mut conn).await })
            .await?;
        let code: String = match reply.first() {
            Some(v) => super::decode("verify.lua", v)?,
            None => String::new(),
        };
        if code != "ok" {
            return Ok(Err(Refusal::from_script(&code, int(reply.get(1)))));
        }
        let api_key = match reply.get(7) {
            Some(Value::Array(_)) | Some(Value::Map(_)) => {
                let fields: HashMap<String, String> = super::decode("verify.lua", &reply[7])?;
                match decode_key(request.id, &fields) {
                    Some(key) => Some(key),
                    None => return Ok(Err(Refusal::NotFound)),
                }
            }
            _ => None,
        };
        let last_used_ms = int(reply.get(9));
        let lease_expires_ms = int(reply.get(2));
        let window_end_ms = int(reply.get(4));
        Ok(Ok(Admission {
            key: api_key,
            revision: int(reply.get(8)).max(0) as u64,
            last_used_at: (last_used_ms > 0)
                .then(|| DateTime::from_timestamp_millis(last_used_ms))
                .flatten(),
            lease: (lease_expires_ms > 0)
                .then(|| DateTime::from_timestamp_millis(lease_expires_ms).map(|t| (lease, t)))
                .flatten(),
            window: (window_end_ms > 0).then(|| RateWindow {
                start_ms: int(reply.get(3)),
                end_ms: window_end_ms,
                requests: int(reply.get(5)).max(0) as u64,
                tokens: int(reply.get(6)).max(0) as u64,
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
        Ok((expires_ms > 0)
            .then(|| DateTime::from_timestamp_millis(expires_ms))
            .flatten())
    }

    /// Releases a lease; releasing an unknown one is not an error.
    pub async fn release_lease(&self, lease: &LeaseId) -> StoreResult<()> {
        let mut conn = self.conn();
        let set = KeyNames::new(lease.key()).leases();
        let member = lease.as_str().to_string();
        self.bounded(async move { conn.zrem::<_, _, i64>(set, member).await })
            .await?;
        Ok(())
    }
}
