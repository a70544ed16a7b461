//! A relay's usage report: a usage object in any of four provider shapes, normalised to token
//! counts, and what it belongs to, validated.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::ids::{is_account_id, KeyId, LeaseId};
use super::pricing::TokenCounts;
use super::FieldError;

/// Largest count of one member of a usage object, and of one normalised token kind, in one
/// report. No response comes near a billion tokens; the cap keeps one report's cost (at most
/// about 2.4e15 nano-USD even at the dearest per-token price of the shipped table, $600 per
/// million) well below [`MAX_COUNTER`], so only a run of reports can fill a counter, and then
/// the record is refused whole.
pub const MAX_TOKENS_PER_REPORT: u64 = 1_000_000_000;

/// Largest value any usage counter in Redis may reach: 2^53 - 1. Lua reads every counter as a
/// double, which holds integers exactly only up to here; the scripts refuse a record (writing
/// nothing) when it would take any counter past it.
pub const MAX_COUNTER: i64 = (1 << 53) - 1;

/// How long a `requestId` is remembered: a repeat within this time is answered, not applied.
pub const REQUEST_ID_TTL_MS: i64 = 24 * 60 * 60 * 1000;

const MAX_REQUEST_ID_CHARS: usize = 128;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
    /// The shape of `usage`; recognised from its members when absent.
    #[serde(default)]
    pub format: Option<UsageFormat>,
    #[schema(value_type = UsageMembers)]
    pub usage: UsageObject,
}

/// The usage shapes a report may carry, each mapped to [`TokenCounts`] by the contract's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UsageFormat {
    /// Anthropic Messages `usage`, whole or a streaming part (`message_start`, `message_delta`).
    Anthropic,
    /// OpenAI Chat Completions `usage`.
    Openai,
    /// OpenAI Responses `usage`.
    OpenaiResponses,
    /// Gemini `usageMetadata`, bare or as `{"usageMetadata": {...}}`.
    Gemini,
}

impl UsageFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageFormat::Anthropic => "anthropic",
            UsageFormat::Openai => "openai",
            UsageFormat::OpenaiResponses => "openai-responses",
            UsageFormat::Gemini => "gemini",
        }
    }
}

/// A `usage` object of any of the four shapes, as sent. Only a JSON object is accepted (serde
/// would otherwise read `[1, 2]` as a struct's fields in order); each count is a non-negative
/// integer or `null` (absent); members no shape counts are ignored, since providers keep
/// adding some (`service_tier`, `server_tool_use`, `promptTokensDetails`, `total_tokens`, ...).
#[derive(Debug, Default)]
pub struct UsageObject(UsageMembers);

impl<'de> Deserialize<'de> for UsageObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Object::<UsageMembers>::deserialize(deserializer)
            .map(|Object(members)| UsageObject(members))
    }
}

/// The counted members of all four shapes. Names shared by two shapes (`input_tokens`,
/// `output_tokens`: Anthropic and OpenAI Responses) appear once.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = Usage)]
struct UsageMembers {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    #[schema(value_type = Option<CacheCreation>)]
    cache_creation: Option<Object<CacheCreation>>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    #[schema(value_type = Option<CachedTokens>)]
    prompt_tokens_details: Option<Object<CachedTokens>>,
    #[schema(value_type = Option<ReasoningTokens>)]
    completion_tokens_details: Option<Object<ReasoningTokens>>,
    #[schema(value_type = Option<CachedTokens>)]
    input_tokens_details: Option<Object<CachedTokens>>,
    #[schema(value_type = Option<ReasoningTokens>)]
    output_tokens_details: Option<Object<ReasoningTokens>>,
    #[serde(rename = "promptTokenCount")]
    prompt_token_count: Option<u64>,
    #[serde(rename = "candidatesTokenCount")]
    candidates_token_count: Option<u64>,
    #[serde(rename = "cachedContentTokenCount")]
    cached_content_token_count: Option<u64>,
    #[serde(rename = "thoughtsTokenCount")]
    thoughts_token_count: Option<u64>,
    #[serde(rename = "toolUsePromptTokenCount")]
    tool_use_prompt_token_count: Option<u64>,
    #[serde(rename = "usageMetadata")]
    #[schema(value_type = Option<GeminiCounts>)]
    usage_metadata: Option<Object<GeminiCounts>>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
struct CacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
struct CachedTokens {
    cached_tokens: Option<u64>,
}

/// Read so that a malformed count is refused like any other; reasoning tokens are already
/// inside the output count of both OpenAI shapes and are never billed again.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
struct ReasoningTokens {
    reasoning_tokens: Option<u64>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct GeminiCounts {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    cached_content_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
    tool_use_prompt_token_count: Option<u64>,
}

/// A value that must be a JSON object (see [`UsageObject`]).
#[derive(Debug, Default)]
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Object)
            }
        }

        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

#[derive(Debug, Clone)]
pub struct UsageReport {
    pub key_id: KeyId,
    pub account_id: Option<String>,
    pub model: String,
    pub lease: Option<LeaseId>,
    /// Makes the record idempotent for [`REQUEST_ID_TTL_MS`].
    pub request_id: Option<RequestId>,
    /// The shape `usage` was read as.
    pub format: UsageFormat,
    /// The normalised counts: what is priced, stored and shown.
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
        let (format, tokens) = self.usage.token_counts(self.format)?;
        Ok(UsageReport {
            key_id,
            account_id,
            model,
            lease,
            request_id,
            format,
            tokens,
        })
    }
}

/// Which shapes count a member.
struct Member {
    name: &'static str,
    present: bool,
    shapes: &'static [UsageFormat],
}

const ANTHROPIC: &[UsageFormat] = &[UsageFormat::Anthropic];
const ANTHROPIC_OR_RESPONSES: &[UsageFormat] =
    &[UsageFormat::Anthropic, UsageFormat::OpenaiResponses];
const OPENAI: &[UsageFormat] = &[UsageFormat::Openai];
const RESPONSES: &[UsageFormat] = &[UsageFormat::OpenaiResponses];
const GEMINI: &[UsageFormat] = &[UsageFormat::Gemini];

impl UsageObject {
    /// The shape (`format`, or recognised) and the normalised counts. Recognition, in order:
    /// 1. a Gemini member (`promptTokenCount`, `candidatesTokenCount`, `cachedContentTokenCount`,
    ///    `thoughtsTokenCount`, `toolUsePromptTokenCount`, or a `usageMetadata` wrapper): gemini;
    /// 2. `prompt_tokens`, `completion_tokens` or their `*_details`: openai;
    /// 3. `input_tokens_details` or `output_tokens_details`: openai-responses;
    /// 4. `input_tokens`, `output_tokens`, `cache_creation_input_tokens`,
    ///    `cache_read_input_tokens` or `cache_creation`: anthropic;
    /// 5. none of these (`{}`, or only members no shape counts): refused, since nothing says
    ///    what was used. With a `format`, an empty object is a report of zero tokens.
    ///
    /// A counted member of another shape is refused, named, either way: it would be ignored, and
    /// the tokens it holds would go unbilled or be billed twice.
    pub fn token_counts(
        &self,
        format: Option<UsageFormat>,
    ) -> Result<(UsageFormat, TokenCounts), FieldError> {
        let members = self.0.members();
        let recognised = format.is_none();
        let format = match format {
            Some(format) => format,
            None => self.0.recognise(&members).ok_or_else(|| {
                FieldError::new(
                    "usage",
                    "fits no usage shape: expected the members of an anthropic, openai, \
                     openai-responses or gemini usage object",
                )
            })?,
        };
        if let Some(foreign) = members
            .iter()
            .find(|member| member.present && !member.shapes.contains(&format))
        {
            let message = if recognised {
                format!(
                    "mixes members of two usage shapes (this one is not in {}, which the other \
                     members say); name the shape with \"format\"",
                    format.as_str()
                )
            } else {
                format!("is not a member of the {} usage shape", format.as_str())
            };
            return Err(FieldError::new(format!("usage.{}", foreign.name), message));
        }
        let tokens = match format {
            UsageFormat::Anthropic => self.0.anthropic()?,
            UsageFormat::Openai => self.0.openai()?,
            UsageFormat::OpenaiResponses => self.0.openai_responses()?,
            UsageFormat::Gemini => self.0.gemini()?,
        };
        Ok((format, tokens))
    }
}

impl UsageMembers {
    fn members(&self) -> [Member; 17] {
        let member = |name, present, shapes| Member {
            name,
            present,
            shapes,
        };
        [
            member(
                "input_tokens",
                self.input_tokens.is_some(),
                ANTHROPIC_OR_RESPONSES,
            ),
            member(
                "output_tokens",
                self.output_tokens.is_some(),
                ANTHROPIC_OR_RESPONSES,
            ),
            member(
                "cache_creation_input_tokens",
                self.cache_creation_input_tokens.is_some(),
                ANTHROPIC,
            ),
            member(
                "cache_read_input_tokens",
                self.cache_read_input_tokens.is_some(),
                ANTHROPIC,
            ),
            member("cache_creation", self.cache_creation.is_some(), ANTHROPIC),
            member("prompt_tokens", self.prompt_tokens.is_some(), OPENAI),
            member(
                "completion_tokens",
                self.completion_tokens.is_some(),
                OPENAI,
            ),
            member(
                "prompt_tokens_details",
                self.prompt_tokens_details.is_some(),
                OPENAI,
            ),
            member(
                "completion_tokens_details",
                self.completion_tokens_details.is_some(),
                OPENAI,
            ),
            member(
                "input_tokens_details",
                self.input_tokens_details.is_some(),
                RESPONSES,
            ),
            member(
                "output_tokens_details",
                self.output_tokens_details.is_some(),
                RESPONSES,
            ),
            member(
                "promptTokenCount",
                self.prompt_token_count.is_some(),
                GEMINI,
            ),
            member(
                "candidatesTokenCount",
                self.candidates_token_count.is_some(),
                GEMINI,
            ),
            member(
                "cachedContentTokenCount",
                self.cached_content_token_count.is_some(),
                GEMINI,
            ),
            member(
                "thoughtsTokenCount",
                self.thoughts_token_count.is_some(),
                GEMINI,
            ),
            member(
                "toolUsePromptTokenCount",
                self.tool_use_prompt_token_count.is_some(),
                GEMINI,
            ),
            member("usageMetadata", self.usage_metadata.is_some(), GEMINI),
        ]
    }

    fn recognise(&self, members: &[Member]) -> Option<UsageFormat> {
        let has_own = |shapes: &[UsageFormat]| {
            members
                .iter()
                .any(|member| member.present && member.shapes == shapes)
        };
        if has_own(GEMINI) {
            Some(UsageFormat::Gemini)
        } else if has_own(OPENAI) {
            Some(UsageFormat::Openai)
        } else if has_own(RESPONSES) {
            Some(UsageFormat::OpenaiResponses)
        } else if members
            .iter()
            .any(|member| member.present && member.shapes.contains(&UsageFormat::Anthropic))
        {
            Some(UsageFormat::Anthropic)
        } else {
            None
        }
    }

    /// Splits cache writes by lifetime. Without a `cache_creation` breakdown every cache write
    /// is priced as a 5-minute write (the default lifetime); with one, what the breakdown does
    /// not cover is also a 5-minute write. A breakdown without `cache_creation_input_tokens`
    /// is the whole of it.
    fn anthropic(&self) -> Result<TokenCounts, FieldError> {
        let input = count("usage.input_tokens", self.input_tokens)?;
        let output = count("usage.output_tokens", self.output_tokens)?;
        let cache_read = count(
            "usage.cache_read_input_tokens",
            self.cache_read_input_tokens,
        )?;
        let breakdown = self.cache_creation.as_ref().map(|Object(c)| c);
        let breakdown_5m = count(
            "usage.cache_creation.ephemeral_5m_input_tokens",
            breakdown.and_then(|c| c.ephemeral_5m_input_tokens),
        )?;
        let breakdown_1h = count(
            "usage.cache_creation.ephemeral_1h_input_tokens",
            breakdown.and_then(|c| c.ephemeral_1h_input_tokens),
        )?;
        let breakdown_total = breakdown_5m + breakdown_1h;
        let cache_create_total = match self.cache_creation_input_tokens {
            Some(_) => count(
                "usage.cache_creation_input_tokens",
                self.cache_creation_input_tokens,
            )?,
            None => breakdown_total,
        };
        if breakdown_total > cache_create_total {
            return Err(FieldError::new(
                "usage.cache_creation",
                "ephemeral_5m_input_tokens + ephemeral_1h_input_tokens exceed cache_creation_input_tokens",
            ));
        }
        Ok(TokenCounts {
            input,
            output,
            cache_write_5m: cache_create_total - breakdown_1h,
            cache_write_1h: breakdown_1h,
            cache_read,
        })
    }

    /// input = `prompt_tokens` - cached; cache read = cached; output = `completion_tokens`
    /// (its reasoning tokens are inside it).
    fn openai(&self) -> Result<TokenCounts, FieldError> {
        let prompt = count("usage.prompt_tokens", self.prompt_tokens)?;
        let cached = count(
            "usage.prompt_tokens_details.cached_tokens",
            self.prompt_tokens_details
                .as_ref()
                .and_then(|Object(details)| details.cached_tokens),
        )?;
        let output = count("usage.completion_tokens", self.completion_tokens)?;
        count_details(
            &self.completion_tokens_details,
            "usage.completion_tokens_details",
        )?;
        let input = prompt.checked_sub(cached).ok_or_else(|| {
            FieldError::new(
                "usage.prompt_tokens_details.cached_tokens",
                "exceeds prompt_tokens, which include the cached tokens",
            )
        })?;
        Ok(TokenCounts {
            input,
            output,
            cache_read: cached,
            ..TokenCounts::default()
        })
    }

    /// input = `input_tokens` - cached; cache read = cached; output = `output_tokens`.
    fn openai_responses(&self) -> Result<TokenCounts, FieldError> {
        let prompt = count("usage.input_tokens", self.input_tokens)?;
        let cached = count(
            "usage.input_tokens_details.cached_tokens",
            self.input_tokens_details
                .as_ref()
                .and_then(|Object(details)| details.cached_tokens),
        )?;
        let output = count("usage.output_tokens", self.output_tokens)?;
        count_details(&self.output_tokens_details, "usage.output_tokens_details")?;
        let input = prompt.checked_sub(cached).ok_or_else(|| {
            FieldError::new(
                "usage.input_tokens_details.cached_tokens",
                "exceeds input_tokens, which include the cached tokens",
            )
        })?;
        Ok(TokenCounts {
            input,
            output,
            cache_read: cached,
            ..TokenCounts::default()
        })
    }

    /// input = `promptTokenCount` - `cachedContentTokenCount` + `toolUsePromptTokenCount`;
    /// cache read = `cachedContentTokenCount`; output = `candidatesTokenCount` + `thoughtsTokenCount`.
    fn gemini(&self) -> Result<TokenCounts, FieldError> {
        let bare = GeminiCounts {
            prompt_token_count: self.prompt_token_count,
            candidates_token_count: self.candidates_token_count,
            cached_content_token_count: self.cached_content_token_count,
            thoughts_token_count: self.thoughts_token_count,
            tool_use_prompt_token_count: self.tool_use_prompt_token_count,
        };
        let (counts, path) = match &self.usage_metadata {
            None => (bare, "usage"),
            Some(Object(wrapped)) => {
                let has_bare = [
                    bare.prompt_token_count,
                    bare.candidates_token_count,
                    bare.cached_content_token_count,
                    bare.thoughts_token_count,
                    bare.tool_use_prompt_token_count,
                ]
                .iter()
                .any(Option::is_some);
                if has_bare {
                    return Err(FieldError::new(
                        "usage.usageMetadata",
                        "gemini counts are given both inside and beside usageMetadata",
                    ));
                }
                (*wrapped, "usage.usageMetadata")
            }
        };
        let field = |name: &str| format!("{path}.{name}");
        let prompt = count(&field("promptTokenCount"), counts.prompt_token_count)?;
        let cached = count(
            &field("cachedContentTokenCount"),
            counts.cached_content_token_count,
        )?;
        let tool_use = count(
            &field("toolUsePromptTokenCount"),
            counts.tool_use_prompt_token_count,
        )?;
        let candidates = count(
            &field("candidatesTokenCount"),
            counts.candidates_token_count,
        )?;
        let thoughts = count(&field("thoughtsTokenCount"), counts.thoughts_token_count)?;
        let uncached = prompt.checked_sub(cached).ok_or_else(|| {
            FieldError::new(
                field("cachedContentTokenCount"),
                "exceeds promptTokenCount, which includes the cached tokens",
            )
        })?;
        let counts = TokenCounts {
            input: uncached + tool_use,
            output: candidates + thoughts,
            cache_read: cached,
            ..TokenCounts::default()
        };
        if counts.input > MAX_TOKENS_PER_REPORT {
            return Err(FieldError::new(
                field("toolUsePromptTokenCount"),
                format!("with the uncached prompt tokens, must be at most {MAX_TOKENS_PER_REPORT}"),
            ));
        }
        if counts.output > MAX_TOKENS_PER_REPORT {
            return Err(FieldError::new(
                field("thoughtsTokenCount"),
                format!("with candidatesTokenCount, must be at most {MAX_TOKENS_PER_REPORT}"),
            ));
        }
        Ok(counts)
    }
}

/// A count as reported (absent: 0), refused above [`MAX_TOKENS_PER_REPORT`].
fn count(field: &str, value: Option<u64>) -> Result<u64, FieldError> {
    let value = value.unwrap_or(0);
    if value > MAX_TOKENS_PER_REPORT {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_TOKENS_PER_REPORT}"),
        ));
    }
    Ok(value)
}

/// The reasoning count of a details object, checked like any count though not billed.
fn count_details(details: &Option<Object<ReasoningTokens>>, path: &str) -> Result<(), FieldError> {
    let reasoning = details
        .as_ref()
        .and_then(|Object(details)| details.reasoning_tokens);
    count(&format!("{path}.reasoning_tokens"), reasoning).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The format used and the normalised counts of a usage object, as `validate` reads it.
    fn read(
        format: Option<UsageFormat>,
        json: &str,
    ) -> Result<(UsageFormat, TokenCounts), FieldError> {
        serde_json::from_str::<UsageObject>(json)
            .expect("parses")
            .token_counts(format)
    }

    fn recognised(json: &str) -> (UsageFormat, TokenCounts) {
        read(None, json).expect("valid")
    }

    fn refused_field(format: Option<UsageFormat>, json: &str) -> String {
        read(format, json).expect_err("refused").field
    }

    fn counts(
        input: u64,
        output: u64,
        cache_write_5m: u64,
        cache_write_1h: u64,
        cache_read: u64,
    ) -> TokenCounts {
        TokenCounts {
            input,
            output,
            cache_write_5m,
            cache_write_1h,
            cache_read,
        }
    }

    // ---- Anthropic ----

    #[test]
    fn anthropic_message_with_cache_breakdown() {
        // A non-streaming Messages response's usage.
        let (format, tokens) = recognised(
            r#"{"input_tokens": 2095, "cache_creation_input_tokens": 3000, "cache_read_input_tokens": 1800,
                "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
                "output_tokens": 503, "service_tier": "standard",
                "server_tool_use": {"web_search_requests": 1}}"#,
        );
        assert_eq!(format, UsageFormat::Anthropic);
        assert_eq!(tokens, counts(2095, 503, 1000, 2000, 1800));
    }

    #[test]
    fn anthropic_streaming_parts() {
        // message_start carries the prompt side and a first output token.
        let (format, start) = recognised(
            r#"{"input_tokens": 472, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 12288,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                "output_tokens": 1, "service_tier": "standard"}"#,
        );
        assert_eq!(format, UsageFormat::Anthropic);
        assert_eq!(start, counts(472, 1, 0, 0, 12288));
        // message_delta carries only the output count: the rest is 0.
        let (format, delta) = recognised(r#"{"output_tokens": 503}"#);
        assert_eq!(format, UsageFormat::Anthropic);
        assert_eq!(delta, counts(0, 503, 0, 0, 0));
    }

    #[test]
    fn anthropic_cache_writes_without_breakdown_are_5_minute() {
        let (_, tokens) = recognised(
            r#"{"input_tokens": 1, "output_tokens": 2, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 4}"#,
        );
        assert_eq!(tokens, counts(1, 2, 300, 0, 4));
        // A breakdown alone is the whole of the cache writes.
        let (_, tokens) = recognised(r#"{"cache_creation": {"ephemeral_1h_input_tokens": 7}}"#);
        assert_eq!(tokens, counts(0, 0, 0, 7, 0));
    }

    #[test]
    fn anthropic_inconsistent_breakdown_is_refused() {
        assert_eq!(
            refused_field(
                None,
                r#"{"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 10,
                    "cache_creation": {"ephemeral_1h_input_tokens": 200}}"#
            ),
            "usage.cache_creation"
        );
    }

    // ---- OpenAI Chat Completions ----

    #[test]
    fn openai_chat_cached_tokens_are_not_billed_twice_and_reasoning_is_output() {
        let (format, tokens) = recognised(
            r#"{"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0,
                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}"#,
        );
        assert_eq!(format, UsageFormat::Openai);
        assert_eq!(tokens, counts(86, 300, 0, 0, 1920));
        // Compatible servers send null details.
        let (_, tokens) = recognised(
            r#"{"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21,
                "prompt_tokens_details": null, "completion_tokens_details": null}"#,
        );
        assert_eq!(tokens, counts(9, 12, 0, 0, 0));
    }

    #[test]
    fn openai_cached_tokens_above_the_prompt_are_refused() {
        assert_eq!(
            refused_field(
                None,
                r#"{"prompt_tokens": 10, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 11}}"#
            ),
            "usage.prompt_tokens_details.cached_tokens"
        );
    }

    // ---- OpenAI Responses ----

    #[test]
    fn openai_responses_are_not_read_as_anthropic() {
        // Same input_tokens/output_tokens names as Anthropic; read as Anthropic, the cached
        // tokens would be billed twice (as input and again nowhere, or as cache reads on top).
        let (format, tokens) = recognised(
            r#"{"input_tokens": 5000, "input_tokens_details": {"cached_tokens": 4096},
                "output_tokens": 1200, "output_tokens_details": {"reasoning_tokens": 1024},
                "total_tokens": 6200}"#,
        );
        assert_eq!(format, UsageFormat::OpenaiResponses);
        assert_eq!(tokens, counts(904, 1200, 0, 0, 4096));
    }

    #[test]
    fn a_named_format_decides_shared_member_names() {
        let (format, tokens) = read(
            Some(UsageFormat::OpenaiResponses),
            r#"{"input_tokens": 328, "output_tokens": 52}"#,
        )
        .expect("valid");
        assert_eq!(format, UsageFormat::OpenaiResponses);
        assert_eq!(tokens, counts(328, 52, 0, 0, 0));
    }

    // ---- Gemini ----

    #[test]
    fn gemini_usage_metadata_bare_or_wrapped() {
        let metadata = r#"{"promptTokenCount": 12000, "candidatesTokenCount": 800, "totalTokenCount": 15300,
            "cachedContentTokenCount": 8000, "thoughtsTokenCount": 2400, "toolUsePromptTokenCount": 100,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12000}],
            "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 8000}], "trafficType": "ON_DEMAND"}"#;
        // input = 12000 - 8000 + 100; output = 800 + 2400; cache read = 8000.
        let expected = counts(4100, 3200, 0, 0, 8000);
        assert_eq!(recognised(metadata), (UsageFormat::Gemini, expected));
        let wrapped = format!(r#"{{"usageMetadata": {metadata}}}"#);
        assert_eq!(recognised(&wrapped), (UsageFormat::Gemini, expected));
        assert_eq!(
            read(Some(UsageFormat::Gemini), &wrapped).expect("valid"),
            (UsageFormat::Gemini, expected)
        );
    }

    #[test]
    fn gemini_refusals_name_the_field() {
        assert_eq!(
            refused_field(
                None,
                r#"{"usageMetadata": {"promptTokenCount": 5, "cachedContentTokenCount": 6}}"#
            ),
            "usage.usageMetadata.cachedContentTokenCount"
        );
        assert_eq!(
            refused_field(
                None,
                r#"{"promptTokenCount": 1, "usageMetadata": {"promptTokenCount": 5}}"#
            ),
            "usage.usageMetadata"
        );
        let cap = MAX_TOKENS_PER_REPORT;
        assert_eq!(
            refused_field(
                None,
                &format!(r#"{{"candidatesTokenCount": {cap}, "thoughtsTokenCount": 1}}"#)
            ),
            "usage.thoughtsTokenCount"
        );
    }

    // ---- shapes that do not fit ----

    #[test]
    fn objects_that_fit_no_shape_are_refused() {
        for json in [
            "{}",
            r#"{"total_tokens": 5}"#,
            r#"{"service_tier": "standard"}"#,
        ] {
            assert_eq!(refused_field(None, json), "usage", "{json}");
        }
        // With a format named, absent counts are 0 and an empty object is zero tokens.
        assert_eq!(
            read(Some(UsageFormat::Openai), "{}").expect("valid"),
            (UsageFormat::Openai, TokenCounts::default())
        );
    }

    #[test]
    fn non_objects_do_not_parse() {
        for json in ["[1, 2]", "3", "\"usage\"", "null", "true"] {
            assert!(serde_json::from_str::<UsageObject>(json).is_err(), "{json}");
        }
        assert!(serde_json::from_str::<UsageObject>(
            r#"{"prompt_tokens": 3, "prompt_tokens_details": [1]}"#
        )
        .is_err());
    }

    #[test]
    fn members_of_two_shapes_are_refused_naming_one() {
        assert_eq!(
            refused_field(
                None,
                r#"{"input_tokens": 5, "input_tokens_details": {"cached_tokens": 4}, "cache_read_input_tokens": 4}"#
            ),
            "usage.cache_read_input_tokens"
        );
        assert_eq!(
            refused_field(None, r#"{"prompt_tokens": 5, "input_tokens": 5}"#),
            "usage.input_tokens"
        );
        assert_eq!(
            refused_field(
                Some(UsageFormat::Anthropic),
                r#"{"input_tokens": 5, "output_tokens": 1, "input_tokens_details": {"cached_tokens": 4}}"#
            ),
            "usage.input_tokens_details"
        );
        assert_eq!(
            refused_field(Some(UsageFormat::Openai), r#"{"input_tokens": 5}"#),
            "usage.input_tokens"
        );
    }

    #[test]
    fn negative_or_fractional_counts_do_not_parse() {
        for json in [
            r#"{"input_tokens": -1, "output_tokens": 1}"#,
            r#"{"input_tokens": 1.5}"#,
            r#"{"prompt_tokens": 1e3}"#,
            r#"{"promptTokenCount": "12"}"#,
            r#"{"prompt_tokens": 1, "completion_tokens_details": {"reasoning_tokens": -2}}"#,
            r#"{"input_tokens": 1, "input_tokens": 2}"#,
        ] {
            assert!(serde_json::from_str::<UsageObject>(json).is_err(), "{json}");
        }
    }

    #[test]
    fn counts_are_capped_at_a_billion_tokens() {
        let cap = MAX_TOKENS_PER_REPORT;
        assert!(read(
            None,
            &format!(r#"{{"input_tokens": {cap}, "output_tokens": {cap}}}"#)
        )
        .is_ok());
        let over = cap + 1;
        for (json, field) in [
            (
                format!(r#"{{"input_tokens": 0, "cache_read_input_tokens": {over}}}"#),
                "usage.cache_read_input_tokens",
            ),
            (
                format!(r#"{{"prompt_tokens": {over}}}"#),
                "usage.prompt_tokens",
            ),
            (
                format!(
                    r#"{{"prompt_tokens": 1, "completion_tokens_details": {{"reasoning_tokens": {over}}}}}"#
                ),
                "usage.completion_tokens_details.reasoning_tokens",
            ),
            (
                format!(r#"{{"usageMetadata": {{"candidatesTokenCount": {over}}}}}"#),
                "usage.usageMetadata.candidatesTokenCount",
            ),
        ] {
            assert_eq!(refused_field(None, &json), field, "{json}");
        }
    }

    // ---- the report ----

    #[test]
    fn report_checks_its_ids_and_format() {
        let key = KeyId::new();
        let other = KeyId::new();
        let report = |extra: &str| {
            let json = format!(
                r#"{{"keyId": "{key}", "model": "claude-sonnet-4-5", "usage": {{"input_tokens": 1, "output_tokens": 1}}{extra}}}"#
            );
            serde_json::from_str::<UsageReportInput>(&json)
                .map_err(|error| FieldError::new("body", error.to_string()))
                .and_then(UsageReportInput::validate)
        };
        let plain = report("").expect("valid");
        assert_eq!(plain.format, UsageFormat::Anthropic);
        assert_eq!(
            report(r#", "format": "openai-responses""#)
                .expect("valid")
                .format,
            UsageFormat::OpenaiResponses
        );
        assert!(report(r#", "format": "openai-chat""#).is_err());
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
    fn a_maximal_report_at_the_dearest_shipped_price_is_far_below_the_counter_bound() {
        // The dearest per-token price in the shipped LiteLLM release is $600 per million
        // (no chat model comes near); the fallback (Opus 4.1) is far cheaper.
        let dearest = crate::domain::pricing::ModelPrice {
            input: 600_000_000_000,
            output: 600_000_000_000,
            cache_write_5m: 600_000_000_000,
            cache_write_1h: 600_000_000_000,
            cache_read: 600_000_000_000,
        };
        let counts = TokenCounts {
            input: MAX_TOKENS_PER_REPORT,
            output: MAX_TOKENS_PER_REPORT,
            cache_write_5m: MAX_TOKENS_PER_REPORT,
            cache_write_1h: 0,
            cache_read: MAX_TOKENS_PER_REPORT,
        };
        let cost = crate::domain::pricing::cost(&counts, &dearest).expect("fits in i64");
        assert!(cost.nanos() * 3 < MAX_COUNTER, "{cost:?}");
    }
}
