//! Reading LiteLLM's `model_prices_and_context_window.json` format: only the priced fields, each
//! kept as the number's text and converted to integer nano-USD per million tokens without floats.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{ModelPrice, ModelPrices};

/// LiteLLM's description of its own schema, written as an entry; it prices nothing.
const SCHEMA_EXAMPLE_ENTRY: &str = "sample_spec";

/// Nano-USD per million tokens in one USD per token: 10^9 * 10^6.
const NANOS_PER_MILLION_DIGITS: i64 = 15;

/// One entry of a price file, as far as keyward reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FileEntry {
    /// A model with input and output prices.
    Priced(ModelPrices),
    /// `{"alias_of": "<other entry>"}`: another name of that entry's model.
    Alias(String),
    /// No input or output price per token (images, embeddings, per-second audio, ...): not
    /// something a usage report can be priced with.
    Unpriced,
}

/// A price that could not be read, naming the entry and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    pub entry: String,
    pub field: &'static str,
    pub value: String,
    pub reason: &'static str,
}

/// What one file held: its entries in file order, and how many prices were rounded.
#[derive(Debug, Default)]
pub(super) struct ParsedFile {
    pub entries: Vec<(String, FileEntry)>,
    /// Prices finer than a nano-USD per million tokens (float artefacts such as
    /// `1.0000000000000001e-07`), rounded half up to that unit.
    pub rounded_prices: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("entry `{}`: field `{}` = {}: {}", .0.entry, .0.field, .0.value, .0.reason)]
    Price(EntryError),
    #[error("entry `{0}` appears twice")]
    DuplicateEntry(String),
}

/// Parses a whole price file.
pub(super) fn parse_file(json_text: &str) -> Result<ParsedFile, ParseError> {
    let raw_entries: RawEntries<'_> = serde_json::from_str(json_text)?;
    let mut parsed = ParsedFile {
        entries: Vec::with_capacity(raw_entries.0.len()),
        rounded_prices: 0,
    };
    let mut seen = std::collections::HashSet::with_capacity(raw_entries.0.len());
    for (name, raw_entry) in raw_entries.0 {
        if !seen.insert(name.clone()) {
            return Err(ParseError::DuplicateEntry(name));
        }
        if name == SCHEMA_EXAMPLE_ENTRY {
            continue;
        }
        let entry = raw_entry
            .to_entry(&name, &mut parsed.rounded_prices)
            .map_err(ParseError::Price)?;
        parsed.entries.push((name, entry));
    }
    Ok(parsed)
}

/// The top-level object, in file order (a map would hide a repeated entry).
struct RawEntries<'a>(Vec<(String, RawEntry<'a>)>);

impl<'de> Deserialize<'de> for RawEntries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = RawEntries<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an object of model entries")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(name) = map.next_key::<String>()? {
                    let entry = map
                        .next_value::<RawEntry<'de>>()
                        .map_err(|error| de::Error::custom(format!("entry `{name}`: {error}")))?;
                    entries.push((name, entry));
                }
                Ok(RawEntries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// The fields keyward prices with; every other field of an entry is skipped unread.
#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow, default)]
    input_cost_per_token: Option<&'a RawValue>,
    #[serde(borrow, default)]
    output_cost_per_token: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_read_input_token_cost: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_creation_input_token_cost: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_creation_input_token_cost_above_1hr: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input_cost_per_token_above_200k_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    output_cost_per_token_above_200k_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_read_input_token_cost_above_200k_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_creation_input_token_cost_above_200k_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_creation_input_token_cost_above_1hr_above_200k_tokens: Option<&'a RawValue>,
    #[serde(default)]
    alias_of: Option<String>,
}

impl RawEntry<'_> {
    /// Fields the file lacks are derived (documented in README "Prices"):
    /// cache read and 5-minute cache write cost the input price (no cheaper rate is known, and a
    /// missing rate must not make tokens free), a 1-hour cache write twice the input price
    /// (Anthropic's rule; only Anthropic usage reports 1-hour writes). A row has a 200k tier when
    /// any `*_above_200k_tokens` price is given; a tier price it lacks is the base price.
    fn to_entry(&self, name: &str, rounded_prices: &mut usize) -> Result<FileEntry, EntryError> {
        if let Some(target) = &self.alias_of {
            return Ok(FileEntry::Alias(target.clone()));
        }
        let mut read =
            |field: &'static str, raw: Option<&RawValue>| -> Result<Option<u64>, EntryError> {
                let Some(raw) = raw else { return Ok(None) };
                let text = raw.get();
                if text == "null" {
                    return Ok(None);
                }
                let converted =
                    usd_per_token_to_nanos_per_million(text).map_err(|reason| EntryError {
                        entry: name.to_owned(),
                        field,
                        value: text.to_owned(),
                        reason,
                    })?;
                if converted.rounded {
                    *rounded_prices += 1;
                }
                Ok(Some(converted.nanos_per_million))
            };
        let input = read("input_cost_per_token", self.input_cost_per_token)?;
        let output = read("output_cost_per_token", self.output_cost_per_token)?;
        let cache_read = read(
            "cache_read_input_token_cost",
            self.cache_read_input_token_cost,
        )?;
        let cache_write_5m = read(
            "cache_creation_input_token_cost",
            self.cache_creation_input_token_cost,
        )?;
        let cache_write_1h = read(
            "cache_creation_input_token_cost_above_1hr",
            self.cache_creation_input_token_cost_above_1hr,
        )?;
        let tier_input = read(
            "input_cost_per_token_above_200k_tokens",
            self.input_cost_per_token_above_200k_tokens,
        )?;
        let tier_output = read(
            "output_cost_per_token_above_200k_tokens",
            self.output_cost_per_token_above_200k_tokens,
        )?;
        let tier_cache_read = read(
            "cache_read_input_token_cost_above_200k_tokens",
            self.cache_read_input_token_cost_above_200k_tokens,
        )?;
        let tier_cache_write_5m = read(
            "cache_creation_input_token_cost_above_200k_tokens",
            self.cache_creation_input_token_cost_above_200k_tokens,
        )?;
        let tier_cache_write_1h = read(
            "cache_creation_input_token_cost_above_1hr_above_200k_tokens",
            self.cache_creation_input_token_cost_above_1hr_above_200k_tokens,
        )?;

        let (Some(input), Some(output)) = (input, output) else {
            return Ok(FileEntry::Unpriced);
        };
        let doubled = |price: u64, field: &'static str| {
            price.checked_mul(2).ok_or_else(|| EntryError {
                entry: name.to_owned(),
                field,
                value: price.to_string(),
                reason: "twice this price (the derived 1-hour cache write) is too large",
            })
        };
        let base = ModelPrice {
            input,
            output,
            cache_read: cache_read.unwrap_or(input),
            cache_write_5m: cache_write_5m.unwrap_or(input),
            cache_write_1h: match cache_write_1h {
                Some(price) => price,
                None => doubled(input, "input_cost_per_token")?,
            },
        };
        let has_tier = [
            tier_input,
            tier_output,
            tier_cache_read,
            tier_cache_write_5m,
            tier_cache_write_1h,
        ]
        .iter()
        .any(Option::is_some);
        let above_200k = has_tier.then(|| ModelPrice {
            input: tier_input.unwrap_or(base.input),
            output: tier_output.unwrap_or(base.output),
            cache_read: tier_cache_read.unwrap_or(base.cache_read),
            cache_write_5m: tier_cache_write_5m.unwrap_or(base.cache_write_5m),
            cache_write_1h: tier_cache_write_1h.unwrap_or(base.cache_write_1h),
        });
        Ok(FileEntry::Priced(ModelPrices { base, above_200k }))
    }
}

/// A converted price, and whether digits finer than the unit were rounded away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Converted {
    pub nanos_per_million: u64,
    pub rounded: bool,
}

/// Converts the text of a JSON number of USD per token (`1.25e-07`, `0.000003`, `0`) to
/// nano-USD per million tokens, i.e. multiplies by 10^15 exactly, on the decimal digits.
/// Digits beyond that unit are rounded half up (and reported); negative values, non-numbers
/// and values past `u64` are errors.
pub(super) fn usd_per_token_to_nanos_per_million(text: &str) -> Result<Converted, &'static str> {
    const NOT_A_PRICE: &str = "expected a non-negative JSON number of USD per token";
    if text.starts_with('-') {
        return Err("is negative");
    }
    let (significand, exponent) = match text.find(['e', 'E']) {
        Some(at) => {
            let exponent_text = text[at + 1..].strip_prefix('+').unwrap_or(&text[at + 1..]);
            let exponent: i64 = exponent_text
                .parse()
                .ok()
                // Any exponent this large is far outside the u64 range either way.
                .filter(|exponent: &i64| exponent.abs() <= 10_000)
                .ok_or(NOT_A_PRICE)?;
            (&text[..at], exponent)
        }
        None => (text, 0),
    };
    let (whole_digits, fraction_digits) = significand.split_once('.').unwrap_or((significand, ""));
    let is_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole_digits.is_empty()
        || !is_digits(whole_digits)
        || !is_digits(fraction_digits)
        || (significand.contains('.') && fraction_digits.is_empty())
    {
        return Err(NOT_A_PRICE);
    }
    // The value is `digits` * 10^scale in the target unit.
    let fraction_len = i64::try_from(fraction_digits.len()).map_err(|_| NOT_A_PRICE)?;
    let scale = exponent - fraction_len + NANOS_PER_MILLION_DIGITS;
    let digits: Vec<u8> = whole_digits
        .bytes()
        .chain(fraction_digits.bytes())
        .skip_while(|&byte| byte == b'0')
        .map(|byte| byte - b'0')
        .collect();
    const TOO_LARGE: &str = "is too large";
    let (kept, rounded, round_up) = if scale >= 0 {
        (&digits[..], false, false)
    } else {
        let dropped_count = usize::try_from(-scale).map_err(|_| TOO_LARGE)?;
        let kept_count = digits.len().saturating_sub(dropped_count);
        let dropped = &digits[kept_count..];
        // Only when exactly the dropped digits are present is the first of them the one after
        // the unit; when more are dropped than there are digits, the value is below half a unit.
        let first_dropped = if dropped_count <= digits.len() {
            dropped.first().copied().unwrap_or(0)
        } else {
            0
        };
        (
            &digits[..kept_count],
            dropped.iter().any(|&digit| digit != 0),
            first_dropped >= 5,
        )
    };
    let mut value: u64 = 0;
    for &digit in kept {
        value = value
            .checked_mul(10)
            .and_then(|shifted| shifted.checked_add(u64::from(digit)))
            .ok_or(TOO_LARGE)?;
    }
    if scale > 0 && value != 0 {
        let power = u32::try_from(scale).map_err(|_| TOO_LARGE)?;
        let multiplier = 10u64.checked_pow(power).ok_or(TOO_LARGE)?;
        value = value.checked_mul(multiplier).ok_or(TOO_LARGE)?;
    }
    if round_up {
        value = value.checked_add(1).ok_or(TOO_LARGE)?;
    }
    Ok(Converted {
        nanos_per_million: value,
        rounded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(text: &str) -> u64 {
        let converted = usd_per_token_to_nanos_per_million(text).expect(text);
        assert!(!converted.rounded, "{text} was rounded");
        converted.nanos_per_million
    }

    #[test]
    fn per_token_prices_convert_exactly() {
        // $0.125, $3, $15, $0.03, $18.75, $0.005 per million tokens.
        assert_eq!(exact("1.25e-07"), 125_000_000);
        assert_eq!(exact("3e-06"), 3_000_000_000);
        assert_eq!(exact("1.5e-05"), 15_000_000_000);
        assert_eq!(exact("3e-08"), 30_000_000);
        assert_eq!(exact("1.875e-05"), 18_750_000_000);
        assert_eq!(exact("5e-09"), 5_000_000);
        assert_eq!(exact("0.000003"), 3_000_000_000);
        assert_eq!(exact("3.4375E-5"), 34_375_000_000);
        assert_eq!(exact("1.25E+0"), 1_250_000_000_000_000);
        assert_eq!(exact("0"), 0);
        assert_eq!(exact("0.0"), 0);
        assert_eq!(exact("0e-5"), 0);
        assert_eq!(exact("1e-15"), 1);
        // A float would give 1.2499999999999999e-07 * 1e15 = 124999999.99999999.
        assert_eq!(exact("0.000000125"), 125_000_000);
    }

    #[test]
    fn finer_digits_round_half_up_and_are_reported() {
        let rounded = |text: &str| {
            let converted = usd_per_token_to_nanos_per_million(text).expect(text);
            assert!(converted.rounded, "{text}");
            converted.nanos_per_million
        };
        assert_eq!(rounded("1.0000000000000001E-7"), 100_000_000);
        assert_eq!(rounded("0.0000011428571428571428"), 1_142_857_143);
        assert_eq!(rounded("4e-16"), 0);
        assert_eq!(rounded("5e-16"), 1);
        assert_eq!(rounded("1.5e-15"), 2);
        assert_eq!(rounded("1e-300"), 0);
    }

    #[test]
    fn non_prices_are_refused() {
        for text in [
            "-1e-06",
            "\"3e-06\"",
            "true",
            "{}",
            "[]",
            "",
            ".5",
            "5.",
            "1e",
            "1e+",
            "0x10",
            "1e99",
            "1e100000",
            "99999999999999999999",
        ] {
            assert!(
                usd_per_token_to_nanos_per_million(text).is_err(),
                "{text} should be refused"
            );
        }
    }

    #[test]
    fn entries_read_only_priced_fields_and_derive_the_rest() {
        let parsed = parse_file(
            r#"{
              "sample_spec": {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "mode": "one of: chat"},
              "m": {"input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06, "mode": "chat",
                    "supports_vision": true, "search_context_cost_per_query": {"low": 0.01}},
              "tiered": {"input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
                         "cache_read_input_token_cost": 1.25e-07,
                         "input_cost_per_token_above_200k_tokens": 2.5e-06,
                         "output_cost_per_token_above_200k_tokens": 1.5e-05},
              "picture": {"output_cost_per_image": 0.04},
              "alias": {"alias_of": "m"}
            }"#,
        )
        .expect("parses");
        let names: Vec<&str> = parsed.entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["m", "tiered", "picture", "alias"]);
        let m = ModelPrice {
            input: 2_000_000_000,
            output: 8_000_000_000,
            cache_read: 2_000_000_000,
            cache_write_5m: 2_000_000_000,
            cache_write_1h: 4_000_000_000,
        };
        assert_eq!(
            parsed.entries[0].1,
            FileEntry::Priced(ModelPrices {
                base: m,
                above_200k: None
            })
        );
        let FileEntry::Priced(tiered) = &parsed.entries[1].1 else {
            panic!("priced")
        };
        assert_eq!(tiered.base.cache_read, 125_000_000);
        assert_eq!(
            tiered.above_200k,
            Some(ModelPrice {
                input: 2_500_000_000,
                output: 15_000_000_000,
                // Not in the tier: the base price.
                cache_read: 125_000_000,
                cache_write_5m: 1_250_000_000,
                cache_write_1h: 2_500_000_000,
            })
        );
        assert_eq!(parsed.entries[2].1, FileEntry::Unpriced);
        assert_eq!(parsed.entries[3].1, FileEntry::Alias("m".into()));
    }

    #[test]
    fn errors_name_the_entry_and_the_field() {
        let message = |json: &str| match parse_file(json) {
            Ok(_) => panic!("{json} should not parse"),
            Err(error) => error.to_string(),
        };
        let negative =
            message(r#"{"m": {"input_cost_per_token": -1e-06, "output_cost_per_token": 1}}"#);
        assert!(negative.contains("entry `m`"), "{negative}");
        assert!(negative.contains("`input_cost_per_token`"), "{negative}");
        let text =
            message(r#"{"m": {"input_cost_per_token": 1, "output_cost_per_token": "cheap"}}"#);
        assert!(text.contains("`output_cost_per_token`"), "{text}");
        let not_an_object = message(r#"{"m": 3}"#);
        assert!(not_an_object.contains("entry `m`"), "{not_an_object}");
        let twice = message(r#"{"m": {}, "m": {}}"#);
        assert!(twice.contains("`m` appears twice"), "{twice}");
        assert!(message("[1, 2]").contains("object of model entries"));
    }

    #[test]
    fn null_prices_count_as_absent() {
        let parsed = parse_file(
            r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
                      "cache_read_input_token_cost": null}}"#,
        )
        .expect("parses");
        let FileEntry::Priced(prices) = &parsed.entries[0].1 else {
            panic!("priced")
        };
        assert_eq!(prices.base.cache_read, 1_000_000_000);
    }
}
