//! A relay's usage report: the Anthropic usage object and what it belongs to, validated.

use serde::Deserialize;

use super::ids::{is_account_id, KeyId, LeaseId};
use super::pricing::TokenCounts;
use super::FieldError;

/// Largest count of one token kind in one report. No response comes near a billion tokens; the
/// cap keeps one report's cost (about 1.2e14 nano-USD at the dearest shipped price) far below
/// [`MAX_COUNTER`], so only a long run of reports can fill a counter, and then the record is
/// refused whole.
pub const MAX_TOKENS_PER_REPORT: u64 = 1_000_000_000;

/// Largest value any usage counter in Redis may reach: 2^53 - 1. Lua reads every counter as a
/// double, which holds integers exactly only up to here; the scripts refuse a record (writing
/// nothing) when it would take any counter past it.
pub const MAX_COUNTER: i64 = (1 << 53) - 1;

/// How long a `requestId` is remembered: a repeat within this time is answered, not applied.
pub const REQUEST_ID_TTL_MS: i64 = 24 * 60 * 60 * 1000;

const MAX_REQUEST_ID_CHARS: usize = 128;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UsageReportInput {
    pub key_id: String,
    #[serde(default)]
    pub account_id: Option<String>,
    pub model: String,
    #[serde(default)]
    pub lease: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    pub usage: AnthropicUsage,
}

/// Anthropic's `usage` object. Unknown members are ignored: Anthropic adds new ones
/// (`service_tier`, `server_tool_use`, ...) and a relay should not break on them.
#[derive(Debug, Deserialize)]
pub struct AnthropicUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation: Option<CacheCreation>,
}

#[derive(Debug, Deserialize)]
pub struct CacheCreation {
    #[serde(default)]
    pub ephemeral_5m_input_tokens: Option<u64>,
    #[serde(default)]
    pub ephemeral_1h_input_tokens: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct UsageReport {
    pub key_id: KeyId,
    pub account_id: Option<String>,
    pub model: String,
    pub lease: Option<LeaseId>,
    /// Makes the record idempotent for [`REQUEST_ID_TTL_MS`].
    pub request_id: Option<RequestId>,
    pub tokens: TokenCounts,
}

/// A relay's idempotency key for one usage record: 1-128 characters, none of them control
/// characters. Opaque: compared exactly, never trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn parse(text: String) -> Result<RequestId, FieldError> {
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_REQUEST_ID_CHARS || text.chars().any(char::is_control) {
            return Err(FieldError::new(
                "requestId",
                format!("must be 1-{MAX_REQUEST_ID_CHARS} printable characters"),
            ));
        }
        Ok(RequestId(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a usage record was not applied (nothing of it was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageRefusal {
    /// No key with this id.
    UnknownKey,
    /// Applying the record would take `counter` past [`MAX_COUNTER`]; `counter` names the
    /// bucket and field, e.g. `total.cost` or `accountDaily.cost|<model>`.
    CounterFull { counter: String },
}

impl UsageReportInput {
    pub fn validate(self) -> Result<UsageReport, FieldError> {
        let key_id = KeyId::parse(&self.key_id)
            .ok_or_else(|| FieldError::new("keyId", "must be a key id"))?;
        let account_id = match self.account_id {
            Some(id) if id.is_empty() => None,
            Some(id) if is_account_id(&id) => Some(id),
            Some(_) => {
                return Err(FieldError::new(
                    "accountId",
                    "must be 1-128 characters without spaces",
                ))
            }
            None => None,
        };
        let model = self.model.trim().to_string();
        if model.is_empty() || model.chars().count() > 200 || model.chars().any(char::is_control) {
            return Err(FieldError::new(
                "model",
                "must be 1-200 printable characters",
            ));
        }
        let lease = match self.lease {
            None => None,
            Some(text) if text.is_empty() => None,
            Some(text) => match LeaseId::parse(&text) {
                Some(lease) if lease.key() == key_id => Some(lease),
                Some(_) => return Err(FieldError::new("lease", "belongs to another key")),
                None => return Err(FieldError::new("lease", "is not a lease id")),
            },
        };
        let request_id = self.request_id.map(RequestId::parse).transpose()?;
        Ok(UsageReport {
            key_id,
            account_id,
            model,
            lease,
            request_id,
            tokens: self.usage.token_counts()?,
        })
    }
}

impl AnthropicUsage {
    /// Splits cache writes by lifetime. Without a `cache_creation` breakdown every cache write
    /// is priced as a 5-minute write (the default lifetime); with one, what the breakdown does
    /// not cover is also a 5-minute write.
    pub fn token_counts(&self) -> Result<TokenCounts, FieldError> {
        let cache_create_total = self.cache_creation_input_tokens.unwrap_or(0);
        let (breakdown_5m, breakdown_1h) = match &self.cache_creation {
            Some(c) => (
                c.ephemeral_5m_input_tokens.unwrap_or(0),
                c.ephemeral_1h_input_tokens.unwrap_or(0),
            ),
            None => (0, 0),
        };
        let checks = [
            ("usage.input_tokens", self.input_tokens),
            ("usage.output_tokens", self.output_tokens),
            ("usage.cache_creation_input_tokens", cache_create_total),
            (
                "usage.cache_read_input_tokens",
                self.cache_read_input_tokens.unwrap_or(0),
            ),
            (
                "usage.cache_creation.ephemeral_5m_input_tokens",
                breakdown_5m,
            ),
            (
                "usage.cache_creation.ephemeral_1h_input_tokens",
                breakdown_1h,
            ),
        ];
        for (field, value) in checks {
            if value > MAX_TOKENS_PER_REPORT {
                return Err(FieldError::new(
                    field,
                    format!("must be at most {MAX_TOKENS_PER_REPORT}"),
                ));
            }
        }
        let breakdown_total = breakdown_5m + breakdown_1h;
        if breakdown_total > cache_create_total {
            return Err(FieldError::new(
                "usage.cache_creation",
                "ephemeral_5m_input_tokens + ephemeral_1h_input_tokens exceed cache_creation_input_tokens",
            ));
        }
        Ok(TokenCounts {
            input: self.input_tokens,
            output: self.output_tokens,
            cache_write_5m: cache_create_total - breakdown_1h,
            cache_write_1h: breakdown_1h,
            cache_read: self.cache_read_input_tokens.unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(json: &str) -> Result<TokenCounts, FieldError> {
        serde_json::from_str::<AnthropicUsage>(json)
            .expect("parses")
            .token_counts()
    }

    #[test]
    fn cache_writes_without_breakdown_are_5_minute() {
        let t = usage(r#"{"input_tokens": 1, "output_tokens": 2, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 4}"#)
            .expect("valid");
        assert_eq!(
            (
                t.input,
                t.output,
                t.cache_write_5m,
                t.cache_write_1h,
                t.cache_read
            ),
            (1, 2, 300, 0, 4)
        );
    }

    #[test]
    fn breakdown_splits_cache_writes() {
        let t = usage(
            r#"{"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 300,
                "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
                "service_tier": "standard"}"#,
        )
        .expect("valid");
        assert_eq!((t.cache_write_5m, t.cache_write_1h), (100, 200));
    }

    #[test]
    fn inconsistent_breakdown_is_refused() {
        let e = usage(
            r#"{"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 10,
                "cache_creation": {"ephemeral_1h_input_tokens": 200}}"#,
        )
        .expect_err("inconsistent");
        assert_eq!(e.field, "usage.cache_creation");
    }

    #[test]
    fn missing_or_negative_counts_do_not_parse() {
        assert!(serde_json::from_str::<AnthropicUsage>(r#"{"output_tokens": 1}"#).is_err());
        assert!(serde_json::from_str::<AnthropicUsage>(
            r#"{"input_tokens": -1, "output_tokens": 1}"#
        )
        .is_err());
        assert!(serde_json::from_str::<AnthropicUsage>(
            r#"{"input_tokens": 1.5, "output_tokens": 1}"#
        )
        .is_err());
    }

    #[test]
    fn report_checks_its_ids() {
        let key = KeyId::new();
        let other = KeyId::new();
        let report = |extra: &str| {
            let json = format!(
                r#"{{"keyId": "{key}", "model": "claude-sonnet-4-5", "usage": {{"input_tokens": 1, "output_tokens": 1}}{extra}}}"#
            );
            serde_json::from_str::<UsageReportInput>(&json)
                .expect("parses")
                .validate()
        };
        assert!(report("").is_ok());
        let foreign = LeaseId::new(other);
        assert_eq!(
            report(&format!(r#", "lease": "{}""#, foreign.as_str()))
                .expect_err("foreign")
                .field,
            "lease"
        );
        assert_eq!(
            report(r#", "accountId": "a b""#).expect_err("bad").field,
            "accountId"
        );
    }

    #[test]
    fn request_ids_are_1_to_128_printable_characters() {
        assert!(RequestId::parse("r".into()).is_ok());
        assert!(RequestId::parse("é".repeat(128)).is_ok());
        assert!(RequestId::parse("a b:{c}".into()).is_ok());
        for bad in [
            String::new(),
            "x".repeat(129),
            "a\nb".into(),
            "\u{7f}".into(),
        ] {
            assert_eq!(
                RequestId::parse(bad.clone()).expect_err(&bad).field,
                "requestId"
            );
        }
    }

    #[test]
    fn counts_are_capped_at_a_billion_tokens() {
        let at_cap = format!(
            r#"{{"input_tokens": {MAX_TOKENS_PER_REPORT}, "output_tokens": {MAX_TOKENS_PER_REPORT}}}"#
        );
        assert!(usage(&at_cap).is_ok());
        let over = MAX_TOKENS_PER_REPORT + 1;
        let e = usage(&format!(
            r#"{{"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": {over}}}"#
        ))
        .expect_err("over the cap");
        assert_eq!(e.field, "usage.cache_read_input_tokens");
    }

    #[test]
    fn a_maximal_report_at_the_fallback_price_is_far_below_the_counter_bound() {
        let table = crate::domain::pricing::PricingTable::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/pricing.toml"
        )))
        .expect("shipped table");
        let counts = TokenCounts {
            input: MAX_TOKENS_PER_REPORT,
            output: MAX_TOKENS_PER_REPORT,
            cache_write_5m: 0,
            cache_write_1h: MAX_TOKENS_PER_REPORT,
            cache_read: MAX_TOKENS_PER_REPORT,
        };
        let cost = crate::domain::pricing::cost(&counts, table.quote("unknown-model").price)
            .expect("fits in i64");
        assert!(cost.nanos() * 70 < MAX_COUNTER, "{cost:?}");
    }
}
