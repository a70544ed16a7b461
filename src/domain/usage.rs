//! A relay's usage report: the Anthropic usage object and what it belongs to, validated.

use serde::Deserialize;

use super::ids::{is_account_id, KeyId, LeaseId};
use super::pricing::TokenCounts;
use super::FieldError;

/// Guards the integer sums downstream; no single response comes near it.
const MAX_TOKENS_PER_REPORT: u64 = 1_000_000_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UsageReportInput {
    pub key_id: String,
    #[serde(default)]
    pub account_id: Option<String>,
    pub model: String,
    #[serde(default)]
    pub lease: Option<String>,
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
    pub tokens: TokenCounts,
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
        Ok(UsageReport {
            key_id,
            account_id,
            model,
            lease,
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
}
