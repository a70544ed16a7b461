//! Model price table (loaded from TOML), model-name normalisation, and exact integer cost of a request's tokens.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::money::NanoUsd;

/// `priced_as` for models that were not in the table.
pub const FALLBACK_PRICED_AS: &str = "fallback";

/// Prices are quoted per million tokens; dividing a $/M price in nano-USD by this gives nano-USD per
/// token ($X/M = X * 1000 nano-USD per token), which must come out whole for costs to stay exact.
const TOKENS_PER_MILLION: i64 = 1_000_000;

/// Prices of one model in nano-USD per token, for each kind of token a request is billed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ModelPrice {
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Prompt-cache writes with the 5-minute lifetime.
    pub cache_write_5m: u64,
    /// Prompt-cache writes with the 1-hour lifetime.
    pub cache_write_1h: u64,
    /// Prompt-cache hits.
    pub cache_read: u64,
}

/// Tokens of one request by billing kind. Usage without a `cache_creation` breakdown should put all
/// `cache_creation_input_tokens` into `cache_write_5m` (the documented default lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TokenCounts {
    pub input: u64,
    pub output: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    pub cache_read: u64,
}

impl TokenCounts {
    /// Cache writes of both lifetimes, i.e. the API's `cache_creation_input_tokens`.
    pub fn cache_create_total(&self) -> u64 {
        self.cache_write_5m.saturating_add(self.cache_write_1h)
    }

    /// Every token of the request. Saturates because this is a usage statistic, not money.
    pub fn all(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cache_create_total())
            .saturating_add(self.cache_read)
    }
}

/// The price chosen for a model name, and under which name it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceQuote<'a> {
    pub price: &'a ModelPrice,
    /// The table's model id, or [`FALLBACK_PRICED_AS`].
    pub priced_as: &'a str,
    /// True when the model was unknown; callers flag this in responses and logs.
    pub fallback: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("cannot read pricing file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("pricing file {}: {source}", .path.display())]
    InFile {
        path: PathBuf,
        source: Box<PricingError>,
    },
    #[error("invalid pricing TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("model `{model}`: field `{field}` = {value:?}: {reason}")]
    InvalidPrice {
        model: String,
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("model `{model}`: name {name:?}: {reason}")]
    InvalidName {
        model: String,
        name: String,
        reason: &'static str,
    },
    #[error(
        "model name `{name}` (looked up as `{normalised}`) is listed under both `{first_model}` and `{second_model}`"
    )]
    DuplicateName {
        name: String,
        normalised: String,
        first_model: String,
        second_model: String,
    },
    #[error("fallback: field `{field}` must be above zero, or unknown models would be billed $0")]
    FreeFallback { field: &'static str },
}

/// Prices by model name, plus the fallback price for names the table does not know.
#[derive(Debug, Clone)]
pub struct PricingTable {
    fallback: ModelPrice,
    models: Vec<PricedModel>,
    /// Normalised id or alias -> index into `models`.
    model_index_by_name: HashMap<String, usize>,
}

#[derive(Debug, Clone)]
struct PricedModel {
    id: String,
    price: ModelPrice,
    /// The id and aliases, normalised: every name the table resolves to this row.
    names: Vec<String>,
}

impl PricingTable {
    pub fn from_toml_str(toml_text: &str) -> Result<PricingTable, PricingError> {
        let raw: RawTable = toml::from_str(toml_text)?;

        let fallback = model_price(FALLBACK_PRICED_AS, raw.fallback.price_fields())?;
        // Input and output are what every request pays; a zero there is the silent $0 bill of
        // claude-relay-service #494/#502. Cache prices may legitimately be zero for some providers.
        if fallback.input == 0 {
            return Err(PricingError::FreeFallback { field: "input" });
        }
        if fallback.output == 0 {
            return Err(PricingError::FreeFallback { field: "output" });
        }

        let mut models = Vec::with_capacity(raw.models.len());
        let mut model_index_by_name: HashMap<String, usize> = HashMap::new();
        for (model_id, raw_model) in raw.models {
            let price = model_price(&model_id, raw_model.price_fields())?;
            let model_index = models.len();
            let mut names = Vec::with_capacity(1 + raw_model.aliases.len());
            for name in std::iter::once(&model_id).chain(raw_model.aliases.iter()) {
                // Keys are normalised like incoming names, so a table entry can never be unreachable.
                let normalised = normalise_model(name);
                if normalised.is_empty() {
                    return Err(PricingError::InvalidName {
                        model: model_id.clone(),
                        name: name.clone(),
                        reason: "is empty after normalisation",
                    });
                }
                if let Some(&first_index) = model_index_by_name.get(&normalised) {
                    let first_model = models
                        .get(first_index)
                        .map_or_else(|| model_id.clone(), |first: &PricedModel| first.id.clone());
                    return Err(PricingError::DuplicateName {
                        name: name.clone(),
                        normalised,
                        first_model,
                        second_model: model_id.clone(),
                    });
                }
                model_index_by_name.insert(normalised.clone(), model_index);
                names.push(normalised);
            }
            models.push(PricedModel {
                id: model_id,
                price,
                names,
            });
        }

        Ok(PricingTable {
            fallback,
            models,
            model_index_by_name,
        })
    }

    /// Reads and parses a pricing file; every error names the file.
    pub fn load(path: &Path) -> Result<PricingTable, PricingError> {
        let toml_text = std::fs::read_to_string(path).map_err(|source| PricingError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        PricingTable::from_toml_str(&toml_text).map_err(|source| PricingError::InFile {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    /// Price for a model name as a client or relay sent it; unknown names get the fallback, flagged.
    pub fn quote(&self, model: &str) -> PriceQuote<'_> {
        let known = self
            .model_index_by_name
            .get(&normalise_model(model))
            .and_then(|&model_index| self.models.get(model_index));
        match known {
            Some(priced_model) => PriceQuote {
                price: &priced_model.price,
                priced_as: &priced_model.id,
                fallback: false,
            },
            None => PriceQuote {
                price: &self.fallback,
                priced_as: FALLBACK_PRICED_AS,
                fallback: true,
            },
        }
    }

    /// Every name a model restriction compares for `model`: the name as sent (trimmed and
    /// lowercased), its normalised form, and, when the table knows the model, every name of its
    /// row (normalised). An entry matches when it, or its own normalised form, is one of these,
    /// so `claude-opus-4-1` and `us.anthropic.claude-opus-4-1-20250805-v1:0` meet whichever
    /// spelling was restricted. Resolved against the table in use, so aliases added later count.
    pub fn restriction_names(&self, model: &str) -> Vec<String> {
        let as_sent = model.trim().to_lowercase();
        let normalised = normalise_model(&as_sent);
        let row_names = self
            .model_index_by_name
            .get(&normalised)
            .and_then(|&model_index| self.models.get(model_index))
            .map(|row| row.names.as_slice())
            .unwrap_or_default();
        let mut names = Vec::with_capacity(2 + row_names.len());
        for name in [as_sent, normalised]
            .into_iter()
            .chain(row_names.iter().cloned())
        {
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// Number of model rows (not counting aliases or the fallback).
    pub fn model_count(&self) -> usize {
        self.models.len()
    }
}

/// Exact cost of `counts` at `price`; `None` if it does not fit in `i64` nano-USD.
pub fn cost(counts: &TokenCounts, price: &ModelPrice) -> Option<NanoUsd> {
    let line_items = [
        (counts.input, price.input),
        (counts.output, price.output),
        (counts.cache_write_5m, price.cache_write_5m),
        (counts.cache_write_1h, price.cache_write_1h),
        (counts.cache_read, price.cache_read),
    ];
    let mut total_nanos: u128 = 0;
    for (tokens, nanos_per_token) in line_items {
        let line_nanos = u128::from(tokens).checked_mul(u128::from(nanos_per_token))?;
        total_nanos = total_nanos.checked_add(line_nanos)?;
    }
    i64::try_from(total_nanos).ok().map(NanoUsd::from_nanos)
}

/// Maps the names relays and clients use for a model onto the table's ids, by these rules in order:
/// 1. trim and lowercase;
/// 2. drop a trailing context-window suffix in brackets: `claude-sonnet-4-5-20250929[1m]`;
/// 3. Bedrock: `[<region>.]anthropic.<id>[-v<n>[:<m>]]` -> `<id>`;
/// 4. Vertex: `<id>[-v<n>]@<date>` -> `<id>-<date>`.
///
/// Lookup afterwards is exact: loose substring matching would price `claude-sonnet-4-5` as
/// `claude-sonnet-4` (or the other way round) the moment a new model shares a prefix.
pub fn normalise_model(name: &str) -> String {
    let lowercase_name = name.trim().to_lowercase();
    let without_context = strip_context_suffix(&lowercase_name);
    let without_bedrock = strip_bedrock_wrapping(without_context);
    vertex_to_dated_id(without_bedrock)
}

/// Rule 2. The suffix selects a context window, not another model, so the base row applies
/// (the long-context premium above 200k input tokens is not modelled by this table).
fn strip_context_suffix(name: &str) -> &str {
    if name.ends_with(']') {
        if let Some(open_bracket) = name.rfind('[') {
            return name[..open_bracket].trim_end();
        }
    }
    name
}

/// Rule 3.
fn strip_bedrock_wrapping(name: &str) -> &str {
    const PROVIDER_PREFIX: &str = "anthropic.";
    let bare_with_version = match name.strip_prefix(PROVIDER_PREFIX) {
        Some(rest) => rest,
        None => {
            // Cross-region inference profiles put a region group first: us., eu., apac., us-gov., global.
            let Some((region, rest)) = name.split_once('.') else {
                return name;
            };
            let is_region = !region.is_empty()
                && region
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte == b'-');
            match rest.strip_prefix(PROVIDER_PREFIX) {
                Some(bare) if is_region => bare,
                _ => return name,
            }
        }
    };
    strip_bedrock_version(bare_with_version)
}

/// `-v1:0` or `-v1` at the end of a Bedrock id.
fn strip_bedrock_version(id: &str) -> &str {
    let Some(dash_v) = id.rfind("-v") else {
        return id;
    };
    let version = &id[dash_v + 2..];
    let is_version = match version.split_once(':') {
        Some((major, minor)) => is_ascii_digits(major) && is_ascii_digits(minor),
        None => is_ascii_digits(version),
    };
    if is_version {
        &id[..dash_v]
    } else {
        id
    }
}

/// Rule 4. Vertex also marks a second revision (`claude-3-5-sonnet-v2@20241022`) that Anthropic's
/// API names by date alone, so a `-v<n>` before the `@` goes too.
fn vertex_to_dated_id(name: &str) -> String {
    let Some((base, date)) = name.rsplit_once('@') else {
        return name.to_owned();
    };
    if base.is_empty() || !is_ascii_digits(date) {
        return name.to_owned();
    }
    let base_without_revision = match base.rfind("-v") {
        Some(dash_v) if is_ascii_digits(&base[dash_v + 2..]) => &base[..dash_v],
        _ => base,
    };
    format!("{base_without_revision}-{date}")
}

fn is_ascii_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

// ---- TOML shape -------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    fallback: RawPrices,
    models: BTreeMap<String, RawModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    #[serde(default)]
    aliases: Vec<String>,
    // Spelled out rather than `#[serde(flatten)]`, which does not work with deny_unknown_fields.
    input: RawUsdPerMillion,
    output: RawUsdPerMillion,
    cache_write_5m: RawUsdPerMillion,
    cache_write_1h: RawUsdPerMillion,
    cache_read: RawUsdPerMillion,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrices {
    input: RawUsdPerMillion,
    output: RawUsdPerMillion,
    cache_write_5m: RawUsdPerMillion,
    cache_write_1h: RawUsdPerMillion,
    cache_read: RawUsdPerMillion,
}

/// The five price fields with their TOML names, in `ModelPrice` order.
type PriceFields<'a> = [(&'static str, &'a RawUsdPerMillion); 5];

impl RawModel {
    fn price_fields(&self) -> PriceFields<'_> {
        [
            ("input", &self.input),
            ("output", &self.output),
            ("cache_write_5m", &self.cache_write_5m),
            ("cache_write_1h", &self.cache_write_1h),
            ("cache_read", &self.cache_read),
        ]
    }
}

impl RawPrices {
    fn price_fields(&self) -> PriceFields<'_> {
        [
            ("input", &self.input),
            ("output", &self.output),
            ("cache_write_5m", &self.cache_write_5m),
            ("cache_write_1h", &self.cache_write_1h),
            ("cache_read", &self.cache_read),
        ]
    }
}

fn model_price(model_id: &str, fields: PriceFields<'_>) -> Result<ModelPrice, PricingError> {
    let [input, output, cache_write_5m, cache_write_1h, cache_read] =
        fields.map(|(field, raw)| nanos_per_token(model_id, field, raw));
    Ok(ModelPrice {
        input: input?,
        output: output?,
        cache_write_5m: cache_write_5m?,
        cache_write_1h: cache_write_1h?,
        cache_read: cache_read?,
    })
}

/// A price as written in the file, kept as decimal text so that no float rounding reaches the table.
struct RawUsdPerMillion(String);

impl<'de> Deserialize<'de> for RawUsdPerMillion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PriceVisitor;

        impl Visitor<'_> for PriceVisitor {
            type Value = RawUsdPerMillion;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(
                    "a price in USD per million tokens, as a string like \"0.30\" or a number",
                )
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(RawUsdPerMillion(text.to_owned()))
            }

            fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
                Ok(RawUsdPerMillion(number.to_string()))
            }

            fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
                Ok(RawUsdPerMillion(number.to_string()))
            }

            // f64's Display is the shortest text that reads back as the same float, never in exponent
            // form, so `0.3` arrives as "0.3" and is then parsed exactly as a decimal.
            fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
                Ok(RawUsdPerMillion(number.to_string()))
            }
        }

        deserializer.deserialize_any(PriceVisitor)
    }
}

fn nanos_per_token(
    model_id: &str,
    field: &'static str,
    raw: &RawUsdPerMillion,
) -> Result<u64, PricingError> {
    let invalid = |reason| PricingError::InvalidPrice {
        model: model_id.to_owned(),
        field,
        value: raw.0.clone(),
        reason,
    };
    let usd_per_million = NanoUsd::parse_usd_decimal(&raw.0).ok_or_else(|| {
        invalid("expected a non-negative decimal number of USD per million tokens")
    })?;
    let nanos_per_million_tokens = usd_per_million.nanos();
    if nanos_per_million_tokens % TOKENS_PER_MILLION != 0 {
        return Err(invalid(
            "more than 3 decimal places is not a whole number of nano-USD per token",
        ));
    }
    u64::try_from(nanos_per_million_tokens / TOKENS_PER_MILLION)
        .map_err(|_| invalid("expected a non-negative decimal number of USD per million tokens"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED_TABLE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/pricing.toml");

    /// PRICING.md, transcribed: names of one row, then input, output, 5m write, 1h write, read in $/M.
    const PRICING_MD_ROWS: [(&[&str], [&str; 5]); 11] = [
        (
            &["claude-opus-4-5-20251101", "claude-opus-4-5"],
            ["5", "25", "6.25", "10", "0.50"],
        ),
        (
            &["claude-opus-4-1-20250805", "claude-opus-4-1"],
            ["15", "75", "18.75", "30", "1.50"],
        ),
        (
            &["claude-opus-4-20250514", "claude-opus-4-0"],
            ["15", "75", "18.75", "30", "1.50"],
        ),
        (
            &["claude-sonnet-4-5-20250929", "claude-sonnet-4-5"],
            ["3", "15", "3.75", "6", "0.30"],
        ),
        (
            &["claude-sonnet-4-20250514", "claude-sonnet-4-0"],
            ["3", "15", "3.75", "6", "0.30"],
        ),
        (
            &["claude-3-7-sonnet-20250219", "claude-3-7-sonnet-latest"],
            ["3", "15", "3.75", "6", "0.30"],
        ),
        (
            &["claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20240620"],
            ["3", "15", "3.75", "6", "0.30"],
        ),
        (
            &["claude-haiku-4-5-20251001", "claude-haiku-4-5"],
            ["1", "5", "1.25", "2", "0.10"],
        ),
        (
            &["claude-3-5-haiku-20241022", "claude-3-5-haiku-latest"],
            ["0.80", "4", "1", "1.60", "0.08"],
        ),
        (
            &["claude-3-opus-20240229"],
            ["15", "75", "18.75", "30", "1.50"],
        ),
        (
            &["claude-3-haiku-20240307"],
            ["0.25", "1.25", "0.30", "0.50", "0.03"],
        ),
    ];

    fn shipped_table() -> PricingTable {
        PricingTable::load(Path::new(SHIPPED_TABLE_PATH)).expect("shipped pricing table loads")
    }

    /// Sonnet 4.5 in nano-USD per token, worked out by hand from $3 / $15 / $3.75 / $6 / $0.30 per million.
    const SONNET_4_5: ModelPrice = ModelPrice {
        input: 3_000,
        output: 15_000,
        cache_write_5m: 3_750,
        cache_write_1h: 6_000,
        cache_read: 300,
    };

    fn table_with_model(model_toml: &str) -> Result<PricingTable, PricingError> {
        let toml_text = format!(
            "[fallback]\ninput = \"15\"\noutput = \"75\"\ncache_write_5m = \"18.75\"\n\
             cache_write_1h = \"30\"\ncache_read = \"1.50\"\n\n{model_toml}"
        );
        PricingTable::from_toml_str(&toml_text)
    }

    fn error_text(result: Result<PricingTable, PricingError>) -> String {
        match result {
            Ok(_) => panic!("expected a pricing error"),
            Err(error) => error.to_string(),
        }
    }

    // ---- normalisation ----

    #[test]
    fn normalise_trims_and_lowercases() {
        assert_eq!(
            normalise_model("  Claude-Sonnet-4-5 \n"),
            "claude-sonnet-4-5"
        );
    }

    #[test]
    fn normalise_strips_context_suffix() {
        assert_eq!(
            normalise_model("claude-sonnet-4-5-20250929[1m]"),
            "claude-sonnet-4-5-20250929"
        );
        assert_eq!(normalise_model("claude-sonnet-4[1M]"), "claude-sonnet-4");
    }

    #[test]
    fn normalise_unwraps_bedrock_ids() {
        assert_eq!(
            normalise_model("us.anthropic.claude-sonnet-4-20250514-v1:0"),
            "claude-sonnet-4-20250514"
        );
        assert_eq!(
            normalise_model("anthropic.claude-3-haiku-20240307-v1:0"),
            "claude-3-haiku-20240307"
        );
        assert_eq!(
            normalise_model("eu.anthropic.claude-3-5-sonnet-20241022-v2:0"),
            "claude-3-5-sonnet-20241022"
        );
        assert_eq!(
            normalise_model("apac.anthropic.claude-opus-4-1-20250805-v1"),
            "claude-opus-4-1-20250805"
        );
        assert_eq!(
            normalise_model("global.anthropic.claude-haiku-4-5-20251001-v1:0"),
            "claude-haiku-4-5-20251001"
        );
        assert_eq!(
            normalise_model("us-gov.anthropic.claude-3-7-sonnet-20250219-v1:0"),
            "claude-3-7-sonnet-20250219"
        );
        assert_eq!(
            normalise_model("anthropic.claude-sonnet-4-5-20250929"),
            "claude-sonnet-4-5-20250929"
        );
    }

    #[test]
    fn normalise_leaves_non_bedrock_dotted_names_alone() {
        // Only "<letters-and-dashes>." directly before "anthropic." counts as a region prefix.
        assert_eq!(
            normalise_model("us1.anthropic.claude-3-haiku-20240307-v1:0"),
            "us1.anthropic.claude-3-haiku-20240307-v1:0"
        );
        assert_eq!(normalise_model("gpt-4.1"), "gpt-4.1");
        // The version suffix is only stripped from Bedrock ids.
        assert_eq!(
            normalise_model("claude-3-haiku-20240307-v1:0"),
            "claude-3-haiku-20240307-v1:0"
        );
    }

    #[test]
    fn normalise_rewrites_vertex_ids() {
        assert_eq!(
            normalise_model("claude-sonnet-4@20250514"),
            "claude-sonnet-4-20250514"
        );
        assert_eq!(
            normalise_model("claude-3-5-sonnet-v2@20241022"),
            "claude-3-5-sonnet-20241022"
        );
        assert_eq!(
            normalise_model("claude-opus-4-1@20250805[1m]"),
            "claude-opus-4-1-20250805"
        );
        // Not a date: left for the exact lookup to reject.
        assert_eq!(
            normalise_model("claude-sonnet-4@latest"),
            "claude-sonnet-4@latest"
        );
    }

    #[test]
    fn normalise_keeps_plain_ids() {
        assert_eq!(normalise_model("claude-sonnet-4-5"), "claude-sonnet-4-5");
        assert_eq!(
            normalise_model("claude-3-5-haiku-latest"),
            "claude-3-5-haiku-latest"
        );
        assert_eq!(normalise_model(""), "");
    }

    // ---- lookup ----

    #[test]
    fn shipped_table_has_every_pricing_md_row_with_its_aliases() {
        let table = shipped_table();
        assert_eq!(table.model_count(), PRICING_MD_ROWS.len());
        for (names, usd_per_million) in PRICING_MD_ROWS {
            let [input, output, cache_write_5m, cache_write_1h, cache_read] =
                usd_per_million.map(|text| {
                    let nanos = NanoUsd::parse_usd_decimal(text).expect("PRICING.md price parses");
                    u64::try_from(nanos.nanos() / 1_000_000).expect("non-negative")
                });
            let expected = ModelPrice {
                input,
                output,
                cache_write_5m,
                cache_write_1h,
                cache_read,
            };
            for name in names {
                let quote = table.quote(name);
                assert!(!quote.fallback, "{name} is missing from the shipped table");
                assert_eq!(
                    quote.priced_as, names[0],
                    "{name} is priced as the wrong row"
                );
                assert_eq!(*quote.price, expected, "{name} has the wrong price");
            }
        }
    }

    #[test]
    fn shipped_fallback_is_the_opus_4_1_price() {
        let table = shipped_table();
        let opus_4_1 = *table.quote("claude-opus-4-1-20250805").price;
        let quote = table.quote("claude-opus-9-20300101");
        assert!(quote.fallback);
        assert_eq!(quote.priced_as, FALLBACK_PRICED_AS);
        assert_eq!(*quote.price, opus_4_1);
    }

    #[test]
    fn quote_resolves_relay_spellings_to_table_rows() {
        let table = shipped_table();
        for (name, priced_as) in [
            (
                "claude-sonnet-4-5-20250929[1m]",
                "claude-sonnet-4-5-20250929",
            ),
            ("Claude-Sonnet-4-5[1m]", "claude-sonnet-4-5-20250929"),
            (
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
                "claude-sonnet-4-20250514",
            ),
            ("claude-sonnet-4@20250514", "claude-sonnet-4-20250514"),
            (
                "claude-3-5-sonnet-v2@20241022",
                "claude-3-5-sonnet-20241022",
            ),
            ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet-20241022"),
        ] {
            let quote = table.quote(name);
            assert!(!quote.fallback, "{name} fell back");
            assert_eq!(quote.priced_as, priced_as, "{name}");
        }
    }

    #[test]
    fn restriction_names_cover_every_spelling_of_a_row() {
        let table = shipped_table();
        let row = ["claude-opus-4-1-20250805", "claude-opus-4-1"];
        for spelling in [
            "claude-opus-4-1",
            "claude-opus-4-1-20250805",
            "us.anthropic.claude-opus-4-1-20250805-v1:0",
            "claude-opus-4-1@20250805",
            "claude-opus-4-1-20250805[1m]",
            " Claude-Opus-4-1-20250805 ",
        ] {
            let names = table.restriction_names(spelling);
            for name in row {
                assert!(names.iter().any(|n| n == name), "{spelling}: {names:?}");
            }
            assert_eq!(names[0], spelling.trim().to_lowercase());
        }
        // Unknown models: as sent and normalised, nothing else.
        assert_eq!(
            table.restriction_names("eu.anthropic.claude-x-v2:0"),
            vec![
                "eu.anthropic.claude-x-v2:0".to_string(),
                "claude-x".to_string()
            ]
        );
        assert!(!table
            .restriction_names("claude-sonnet-4-5")
            .iter()
            .any(|n| n.contains("opus")));
    }

    #[test]
    fn quote_never_matches_by_prefix_or_substring() {
        let table = shipped_table();
        assert_eq!(
            table.quote("claude-sonnet-4-5").priced_as,
            "claude-sonnet-4-5-20250929"
        );
        assert_eq!(
            table.quote("claude-sonnet-4-0").priced_as,
            "claude-sonnet-4-20250514"
        );
        for near_miss in [
            "claude-sonnet-4",
            "claude-sonnet",
            "claude-sonnet-4-5-2025",
            "claude-sonnet-4-5-20250929-extra",
            "my-claude-sonnet-4-5",
            "claude-opus-4",
            "claude-opus-4-6",
        ] {
            assert!(
                table.quote(near_miss).fallback,
                "{near_miss} should fall back"
            );
        }
    }

    #[test]
    fn table_names_are_normalised_like_requests() {
        let table = table_with_model(
            "[models.\"Claude-Test-20250101\"]\naliases = [\"us.anthropic.claude-test-v1:0\"]\n\
             input = 1\noutput = 2\ncache_write_5m = 3\ncache_write_1h = 4\ncache_read = 5\n",
        )
        .expect("valid table");
        assert_eq!(
            table.quote("claude-test-20250101").priced_as,
            "Claude-Test-20250101"
        );
        assert_eq!(table.quote("claude-test").priced_as, "Claude-Test-20250101");
    }

    // ---- price parsing ----

    #[test]
    fn haiku_3_cache_read_is_30_nanos_per_token() {
        assert_eq!(
            shipped_table()
                .quote("claude-3-haiku-20240307")
                .price
                .cache_read,
            30
        );
    }

    #[test]
    fn prices_may_be_strings_integers_or_floats() {
        let table = table_with_model(
            "[models.m]\ninput = 3\noutput = \"15\"\ncache_write_5m = 3.75\ncache_write_1h = 0.3\n\
             cache_read = 0.001\n",
        )
        .expect("valid table");
        let price = table.quote("m").price;
        assert_eq!(
            *price,
            ModelPrice {
                input: 3_000,
                output: 15_000,
                cache_write_5m: 3_750,
                cache_write_1h: 300,
                cache_read: 1,
            }
        );
    }

    #[test]
    fn prices_with_more_than_three_decimals_are_rejected_naming_model_and_field() {
        for value in ["\"0.0005\"", "0.0005", "\"1.2345\""] {
            let message = error_text(table_with_model(&format!(
                "[models.\"claude-x\"]\ninput = 1\noutput = 1\ncache_write_5m = 1\ncache_write_1h = 1\n\
                 cache_read = {value}\n"
            )));
            assert!(message.contains("claude-x"), "{message}");
            assert!(message.contains("cache_read"), "{message}");
            assert!(message.contains("3 decimal places"), "{message}");
        }
    }

    #[test]
    fn malformed_prices_are_rejected_naming_model_and_field() {
        for value in [
            "\"-1\"", "-1", "\"abc\"", "\"1e3\"", "\"\"", "-0.5", "1e30", "\" 3\"",
        ] {
            let message = error_text(table_with_model(&format!(
                "[models.\"claude-x\"]\ninput = 1\noutput = {value}\ncache_write_5m = 1\n\
                 cache_write_1h = 1\ncache_read = 1\n"
            )));
            assert!(message.contains("claude-x"), "{value}: {message}");
            assert!(message.contains("`output`"), "{value}: {message}");
        }
    }

    #[test]
    fn non_numeric_price_types_are_rejected_naming_the_field() {
        let message = error_text(table_with_model(
            "[models.m]\ninput = true\noutput = 1\ncache_write_5m = 1\ncache_write_1h = 1\ncache_read = 1\n",
        ));
        assert!(message.contains("input"), "{message}");
        assert!(message.contains("USD per million tokens"), "{message}");
    }

    #[test]
    fn unknown_keys_are_rejected_naming_the_key() {
        let misspelt_field = error_text(table_with_model(
            "[models.m]\ninput = 1\noutput = 1\ncache_write_5m = 1\ncache_write_1h = 1\ncache_read = 1\n\
             cache_write = 1\n",
        ));
        assert!(
            misspelt_field.contains("unknown field `cache_write`"),
            "{misspelt_field}"
        );

        let stray_table = error_text(table_with_model("[model.m]\ninput = 1\n"));
        assert!(
            stray_table.contains("unknown field `model`"),
            "{stray_table}"
        );

        let fallback_alias = error_text(PricingTable::from_toml_str(
            "[fallback]\naliases = []\ninput = 1\noutput = 1\ncache_write_5m = 1\ncache_write_1h = 1\n\
             cache_read = 1\n[models]\n",
        ));
        assert!(
            fallback_alias.contains("unknown field `aliases`"),
            "{fallback_alias}"
        );
    }

    #[test]
    fn missing_keys_are_rejected_naming_the_key() {
        let missing_field = error_text(table_with_model(
            "[models.m]\ninput = 1\noutput = 1\ncache_write_5m = 1\ncache_write_1h = 1\n",
        ));
        assert!(
            missing_field.contains("missing field `cache_read`"),
            "{missing_field}"
        );

        let missing_fallback = error_text(PricingTable::from_toml_str("[models]\n"));
        assert!(
            missing_fallback.contains("missing field `fallback`"),
            "{missing_fallback}"
        );

        let missing_models = error_text(table_with_model(""));
        assert!(
            missing_models.contains("missing field `models`"),
            "{missing_models}"
        );
    }

    #[test]
    fn duplicate_names_are_rejected_naming_them() {
        let duplicate_alias = error_text(table_with_model(
            "[models.a]\naliases = [\"shared\"]\ninput = 1\noutput = 1\ncache_write_5m = 1\n\
             cache_write_1h = 1\ncache_read = 1\n\
             [models.b]\naliases = [\"shared\"]\ninput = 1\noutput = 1\ncache_write_5m = 1\n\
             cache_write_1h = 1\ncache_read = 1\n",
        ));
        assert!(duplicate_alias.contains("`shared`"), "{duplicate_alias}");
        assert!(
            duplicate_alias.contains("`a`") && duplicate_alias.contains("`b`"),
            "{duplicate_alias}"
        );

        // An alias equal to another row's id, after normalisation.
        let alias_shadows_id = error_text(table_with_model(
            "[models.a]\ninput = 1\noutput = 1\ncache_write_5m = 1\ncache_write_1h = 1\ncache_read = 1\n\
             [models.b]\naliases = [\"A\"]\ninput = 1\noutput = 1\ncache_write_5m = 1\n\
             cache_write_1h = 1\ncache_read = 1\n",
        ));
        assert!(alias_shadows_id.contains("`A`"), "{alias_shadows_id}");

        let empty_alias = error_text(table_with_model(
            "[models.a]\naliases = [\" \"]\ninput = 1\noutput = 1\ncache_write_5m = 1\n\
             cache_write_1h = 1\ncache_read = 1\n",
        ));
        assert!(empty_alias.contains("model `a`"), "{empty_alias}");
    }

    #[test]
    fn fallback_must_charge_for_input_and_output() {
        for (zero_field, fallback) in [
            ("input", "input = 0\noutput = 75\n"),
            ("output", "input = 15\noutput = \"0.000\"\n"),
        ] {
            let message = error_text(PricingTable::from_toml_str(&format!(
                "[fallback]\n{fallback}cache_write_5m = 0\ncache_write_1h = 0\ncache_read = 0\n[models]\n"
            )));
            assert!(message.contains("fallback"), "{message}");
            assert!(message.contains(&format!("`{zero_field}`")), "{message}");
        }
    }

    #[test]
    fn explicitly_free_models_are_allowed() {
        let table = table_with_model(
            "[models.free]\ninput = 0\noutput = 0\ncache_write_5m = 0\ncache_write_1h = 0\ncache_read = 0\n",
        )
        .expect("valid table");
        let quote = table.quote("free");
        assert!(!quote.fallback);
        assert_eq!(*quote.price, ModelPrice::default());
    }

    #[test]
    fn load_errors_name_the_file() {
        let missing = Path::new("/nonexistent/keyward/pricing.toml");
        let message = match PricingTable::load(missing) {
            Ok(_) => panic!("missing file must not load"),
            Err(error) => error.to_string(),
        };
        assert!(
            message.contains("/nonexistent/keyward/pricing.toml"),
            "{message}"
        );

        let directory = Path::new(env!("CARGO_MANIFEST_DIR"));
        let message = match PricingTable::load(directory) {
            Ok(_) => panic!("a directory must not load"),
            Err(error) => error.to_string(),
        };
        assert!(message.contains(env!("CARGO_MANIFEST_DIR")), "{message}");
    }

    #[test]
    fn load_parse_errors_name_the_file_and_the_model() {
        let path =
            std::env::temp_dir().join(format!("keyward-pricing-test-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[fallback]\ninput = 15\noutput = 75\ncache_write_5m = 1\ncache_write_1h = 1\ncache_read = 1\n\
             [models.bad]\ninput = \"0.0001\"\noutput = 1\ncache_write_5m = 1\ncache_write_1h = 1\n\
             cache_read = 1\n",
        )
        .expect("write temp file");
        let result = PricingTable::load(&path);
        std::fs::remove_file(&path).expect("remove temp file");
        let message = error_text(result);
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("model `bad`"), "{message}");
        assert!(message.contains("`input`"), "{message}");
    }

    // ---- cost ----

    #[test]
    fn cost_of_mixed_sonnet_4_5_usage() {
        let counts = TokenCounts {
            input: 1_000,
            output: 500,
            cache_write_5m: 2_000,
            cache_write_1h: 3_000,
            cache_read: 4_000,
        };
        // 1000*3000 + 500*15000 + 2000*3750 + 3000*6000 + 4000*300
        // = 3_000_000 + 7_500_000 + 7_500_000 + 18_000_000 + 1_200_000 = 37_200_000 nano-USD = $0.0372
        let total = cost(&counts, &SONNET_4_5).expect("no overflow");
        assert_eq!(total, NanoUsd(37_200_000));
        assert_eq!(total.to_string(), "0.0372");
    }

    #[test]
    fn shipped_sonnet_4_5_price_matches_hand_computed_nanos() {
        assert_eq!(
            *shipped_table().quote("claude-sonnet-4-5").price,
            SONNET_4_5
        );
    }

    #[test]
    fn cost_of_input_tokens_only() {
        let counts = TokenCounts {
            input: 1_000_000,
            ..TokenCounts::default()
        };
        // $3 per million input tokens.
        assert_eq!(cost(&counts, &SONNET_4_5), Some(NanoUsd(3_000_000_000)));
    }

    #[test]
    fn cost_of_output_tokens_only() {
        let counts = TokenCounts {
            output: 2,
            ..TokenCounts::default()
        };
        assert_eq!(cost(&counts, &SONNET_4_5), Some(NanoUsd(30_000)));
    }

    #[test]
    fn cost_of_5_minute_cache_writes_only() {
        let counts = TokenCounts {
            cache_write_5m: 10,
            ..TokenCounts::default()
        };
        assert_eq!(cost(&counts, &SONNET_4_5), Some(NanoUsd(37_500)));
    }

    #[test]
    fn cost_of_1_hour_cache_writes_only() {
        let counts = TokenCounts {
            cache_write_1h: 10,
            ..TokenCounts::default()
        };
        assert_eq!(cost(&counts, &SONNET_4_5), Some(NanoUsd(60_000)));
    }

    #[test]
    fn cost_of_cache_reads_only() {
        let counts = TokenCounts {
            cache_read: 10,
            ..TokenCounts::default()
        };
        assert_eq!(cost(&counts, &SONNET_4_5), Some(NanoUsd(3_000)));
    }

    #[test]
    fn cost_of_haiku_3_cache_reads_uses_the_3_cent_price() {
        let haiku_3 = *shipped_table().quote("claude-3-haiku-20240307").price;
        let counts = TokenCounts {
            cache_read: 1_000_000,
            ..TokenCounts::default()
        };
        // $0.03 per million = 30 nano-USD per token.
        assert_eq!(cost(&counts, &haiku_3), Some(NanoUsd(30_000_000)));
    }

    #[test]
    fn cost_of_nothing_is_zero() {
        assert_eq!(
            cost(&TokenCounts::default(), &SONNET_4_5),
            Some(NanoUsd::ZERO)
        );
    }

    #[test]
    fn cost_overflow_is_none_not_wrapped_or_saturated() {
        let huge = TokenCounts {
            output: u64::MAX,
            ..TokenCounts::default()
        };
        assert_eq!(cost(&huge, &SONNET_4_5), None);

        // Exactly i64::MAX still fits; one more nano does not.
        let at_limit = TokenCounts {
            input: i64::MAX as u64,
            ..TokenCounts::default()
        };
        let one_nano_each = ModelPrice {
            input: 1,
            output: 1,
            ..ModelPrice::default()
        };
        assert_eq!(cost(&at_limit, &one_nano_each), Some(NanoUsd(i64::MAX)));
        let over_limit = TokenCounts {
            output: 1,
            ..at_limit
        };
        assert_eq!(cost(&over_limit, &one_nano_each), None);

        let every_line_max = TokenCounts {
            input: u64::MAX,
            output: u64::MAX,
            cache_write_5m: u64::MAX,
            cache_write_1h: u64::MAX,
            cache_read: u64::MAX,
        };
        let every_price_max = ModelPrice {
            input: u64::MAX,
            output: u64::MAX,
            cache_write_5m: u64::MAX,
            cache_write_1h: u64::MAX,
            cache_read: u64::MAX,
        };
        assert_eq!(cost(&every_line_max, &every_price_max), None);
    }

    #[test]
    fn token_totals() {
        let counts = TokenCounts {
            input: 1,
            output: 2,
            cache_write_5m: 3,
            cache_write_1h: 4,
            cache_read: 5,
        };
        assert_eq!(counts.cache_create_total(), 7);
        assert_eq!(counts.all(), 15);

        let huge = TokenCounts {
            input: u64::MAX,
            cache_read: 1,
            ..TokenCounts::default()
        };
        assert_eq!(huge.all(), u64::MAX);
    }
}
