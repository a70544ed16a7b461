//! The pricing table: the shipped files against PRICING.md, name resolution, tiers, overrides.

use std::path::Path;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::*;

/// The LiteLLM release whose `model_prices_and_context_window.json` these tests checked, named
/// in config/PRICES_SOURCE.md beside the file.
const LITELLM_RELEASE_CHECKED: &str = "1.110.2";

const SHIPPED_PRICES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/model_prices_and_context_window.json"
);
const SHIPPED_OVERRIDES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/config/pricing_overrides.json");
const PRICES_SOURCE_NOTE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/PRICES_SOURCE.md");
const SHIPPED_FALLBACK: &str = "claude-opus-4-1-20250805";

/// PRICING.md, transcribed: the names of one row (canonical id first), then input, output,
/// 5m write, 1h write, read in USD per million tokens.
const PRICING_MD_CLAUDE_ROWS: [(&[&str], [&str; 5]); 11] = [
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

/// PRICING.md's cross-checks from the LiteLLM file: model, canonical id, then input, output and
/// cached read in USD per million tokens up to 200k prompt tokens, and above it (if tiered).
type CrossCheck = (
    &'static str,
    &'static str,
    [&'static str; 3],
    Option<[&'static str; 3]>,
);
const PRICING_MD_CROSS_CHECKS: [CrossCheck; 4] = [
    ("gpt-4o", "gpt-4o", ["2.5", "10", "1.25"], None),
    ("gpt-5", "gpt-5-2025-08-07", ["1.25", "10", "0.125"], None),
    ("gpt-4.1", "gpt-4.1-2025-04-14", ["2", "8", "0.5"], None),
    (
        "gemini-2.5-pro",
        "gemini-2.5-pro",
        ["1.25", "10", "0.125"],
        Some(["2.5", "15", "0.25"]),
    ),
];

/// The shipped table, loaded once for all tests (a few MB of JSON).
fn shipped_table() -> &'static PricingTable {
    static TABLE: OnceLock<PricingTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let started = std::time::Instant::now();
        let table = PricingTable::load(&PricingFiles {
            prices: Path::new(SHIPPED_PRICES),
            overrides: Some(Path::new(SHIPPED_OVERRIDES)),
            fallback_model: SHIPPED_FALLBACK,
        })
        .expect("shipped pricing table loads");
        // Reported, not asserted: a debug build on a shared machine says little about speed.
        eprintln!(
            "shipped pricing table: {} models, {} names, loaded in {:?}",
            table.model_count(),
            table.name_count(),
            started.elapsed()
        );
        table
    })
}

/// Nano-USD for an amount of USD written as in PRICING.md; a price of X USD per million
/// tokens is X * 10^9 nano-USD per million, and also the cost of a million tokens.
fn nanos(usd: &str) -> u64 {
    let amount = NanoUsd::parse_usd_decimal(usd).expect("a PRICING.md amount");
    u64::try_from(amount.nanos()).expect("non-negative")
}

fn one_kind(kind: usize, tokens: u64) -> TokenCounts {
    let mut counts = TokenCounts::default();
    let slot = match kind {
        0 => &mut counts.input,
        1 => &mut counts.output,
        2 => &mut counts.cache_write_5m,
        3 => &mut counts.cache_write_1h,
        _ => &mut counts.cache_read,
    };
    *slot = tokens;
    counts
}

fn cost_nanos(table: &PricingTable, model: &str, counts: TokenCounts) -> i64 {
    table
        .quote(model)
        .cost(&counts)
        .expect("no overflow")
        .nanos()
}

fn small_table(
    prices_json: &str,
    overrides_json: Option<&str>,
) -> Result<PricingTable, PricingError> {
    PricingTable::from_json(
        (Path::new("prices.json"), prices_json),
        overrides_json.map(|text| (Path::new("overrides.json"), text)),
        "m",
    )
}

fn error_text(result: Result<PricingTable, PricingError>) -> String {
    match result {
        Ok(_) => panic!("expected a pricing error"),
        Err(error) => error.to_string(),
    }
}

// ---- the shipped files ----

#[test]
fn shipped_file_is_the_checked_litellm_release() {
    let note = std::fs::read_to_string(PRICES_SOURCE_NOTE).expect("PRICES_SOURCE.md");
    assert!(
        note.contains(&format!("litellm {LITELLM_RELEASE_CHECKED}")),
        "PRICES_SOURCE.md names another release"
    );
    let file = std::fs::read(SHIPPED_PRICES).expect("shipped prices");
    let digest = hex::encode(Sha256::digest(&file));
    assert!(
        note.contains(&digest),
        "the shipped file (sha256 {digest}) is not the one PRICES_SOURCE.md names"
    );
}

#[test]
fn every_pricing_md_claude_id_prices_a_million_tokens_exactly_as_listed() {
    let table = shipped_table();
    for (names, usd_per_million) in PRICING_MD_CLAUDE_ROWS {
        for name in names {
            let quote = table.quote(name);
            assert!(!quote.fallback, "{name} is missing from the shipped table");
            assert_eq!(
                quote.priced_as, names[0],
                "{name} is priced as the wrong row"
            );
            // A report of a million tokens of each kind in turn, through tier selection: none
            // of these rows may have a long-prompt tier, which PRICING.md does not list.
            for (kind, usd) in usd_per_million.iter().enumerate() {
                let expected = i64::try_from(nanos(usd)).expect("fits");
                assert_eq!(
                    cost_nanos(table, name, one_kind(kind, 1_000_000)),
                    expected,
                    "{name}, token kind {kind}: PRICING.md says ${usd} per million"
                );
            }
        }
    }
}

#[test]
fn pricing_md_cross_checks_price_a_million_tokens_to_the_nano_dollar() {
    let table = shipped_table();
    for (model, canonical, base, tier) in PRICING_MD_CROSS_CHECKS {
        let quote = table.quote(model);
        assert!(!quote.fallback, "{model} fell back");
        assert_eq!(quote.priced_as, canonical, "{model}");
        // A million input or cached tokens is a long prompt: the tier's price if there is one.
        let long_prompt = tier.unwrap_or(base);
        let expected = [
            (one_kind(0, 1_000_000), long_prompt[0]),
            (one_kind(1, 1_000_000), base[1]),
            (one_kind(4, 1_000_000), long_prompt[2]),
        ];
        for (counts, usd) in expected {
            assert_eq!(
                cost_nanos(table, model, counts),
                i64::try_from(nanos(usd)).expect("fits"),
                "{model} {counts:?}: ${usd} per million"
            );
        }
        // The base prices, checked on exactly 200,000 prompt tokens (a fifth of a million).
        for (kind, usd) in [(0, base[0]), (4, base[2])] {
            let fifth = i64::try_from(nanos(usd) / 5).expect("fits");
            assert_eq!(
                cost_nanos(table, model, one_kind(kind, 200_000)),
                fifth,
                "{model} kind {kind}"
            );
        }
        assert_eq!(quote.prices.above_200k.is_some(), tier.is_some(), "{model}");
    }
}

#[test]
fn regional_bedrock_premiums_do_not_reach_anthropic_ids() {
    // The release prices these regional profiles 10% above the list price; relays name them,
    // but keyward bills the model's list price.
    let table = shipped_table();
    for (bedrock, canonical, input_usd) in [
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-sonnet-4-5-20250929",
            "3",
        ),
        (
            "eu.anthropic.claude-opus-4-5-20251101-v1:0",
            "claude-opus-4-5-20251101",
            "5",
        ),
        (
            "apac.anthropic.claude-haiku-4-5-20251001-v1:0",
            "claude-haiku-4-5-20251001",
            "1",
        ),
        (
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "claude-sonnet-4-20250514",
            "3",
        ),
    ] {
        let quote = table.quote(bedrock);
        assert_eq!(quote.priced_as, canonical, "{bedrock}");
        assert_eq!(quote.prices.base.input, nanos(input_usd), "{bedrock}");
    }
}

#[test]
fn shipped_overrides_win_over_the_release() {
    let table = shipped_table();
    // The release prices claude-sonnet-4-20250514 only through Bedrock, with a 200k tier; the
    // override gives Anthropic's list price, without one.
    let sonnet_4 = table.resolve("claude-sonnet-4-20250514").expect("known");
    assert_eq!(sonnet_4.source, PriceSource::Overrides);
    assert_eq!(sonnet_4.prices.above_200k, None);
    assert_eq!(table.path_of(sonnet_4.source), Path::new(SHIPPED_OVERRIDES));
    let sonnet_4_5 = table.resolve("claude-sonnet-4-5").expect("known");
    assert_eq!(sonnet_4_5.source, PriceSource::Prices);
    assert_eq!(&*sonnet_4_5.entry, "claude-sonnet-4-5-20250929");
}

#[test]
fn shipped_fallback_is_the_opus_4_1_price_and_flagged() {
    let table = shipped_table();
    let opus_4_1 = *table.quote("claude-opus-4-1-20250805").prices;
    let quote = table.quote("claude-opus-9-20300101");
    assert!(quote.fallback);
    assert_eq!(quote.priced_as, FALLBACK_PRICED_AS);
    assert_eq!(*quote.prices, opus_4_1);
    assert_eq!(&*table.fallback().id, "claude-opus-4-1-20250805");
}

#[test]
fn relay_spellings_resolve_to_canonical_rows() {
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
        ("gemini/gemini-2.5-pro", "gemini-2.5-pro"),
        ("openai/gpt-4o", "gpt-4o"),
        ("openai/gpt-4.1", "gpt-4.1-2025-04-14"),
        ("gpt-4.1-2025-04-14", "gpt-4.1-2025-04-14"),
        // An alias_of entry of the release.
        ("claude-sonnet-latest", "claude-sonnet-5-5"),
        // A dated id the release lacks: its undated id's row.
        ("gpt-4o-2031-01-01", "gpt-4o"),
        // An undated id the files lack, with one dated id: that row.
        ("claude-opus-4", "claude-opus-4-20250514"),
    ] {
        let quote = table.quote(name);
        assert!(!quote.fallback, "{name} fell back");
        assert_eq!(quote.priced_as, priced_as, "{name}");
    }
    // Dated ids with their own prices stay their own rows.
    assert_eq!(
        table.quote("gpt-4o-2024-05-13").priced_as,
        "gpt-4o-2024-05-13"
    );
    assert_ne!(
        table.quote("gpt-4o-2024-05-13").prices,
        table.quote("gpt-4o").prices
    );
}

#[test]
fn quote_never_matches_by_prefix_or_substring() {
    let table = shipped_table();
    for near_miss in [
        "claude-sonnet",
        "claude-sonnet-4-5-2025",
        "claude-sonnet-4-5-20250929-extra",
        "my-claude-sonnet-4-5",
        "claude-opus-9",
        "gpt-4o-",
        "gemini-2.5",
        "",
    ] {
        assert!(
            table.quote(near_miss).fallback,
            "{near_miss} should fall back"
        );
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
    let gemini = table.restriction_names("gemini/gemini-2.5-pro");
    assert!(gemini.iter().any(|n| n == "gemini-2.5-pro"), "{gemini:?}");
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

// ---- the 200k tier ----

#[test]
fn the_tier_starts_above_200000_prompt_tokens() {
    let table = shipped_table();
    let gemini = |counts: TokenCounts| cost_nanos(table, "gemini-2.5-pro", counts);
    // Exactly 200,000: $1.25 per million -> $0.25.
    assert_eq!(gemini(one_kind(0, 200_000)), 250_000_000);
    // 200,001: the whole request at $2.50 per million -> $0.5000025.
    assert_eq!(gemini(one_kind(0, 200_001)), 500_002_500);
    // Cache reads and writes count towards the prompt; output does not.
    let at_limit = TokenCounts {
        input: 100_000,
        cache_read: 100_000,
        output: 1_000_000,
        ..TokenCounts::default()
    };
    // 100,000 x 1.25 + 100,000 x 0.125 + 1,000,000 x 10 per million.
    assert_eq!(gemini(at_limit), 125_000_000 + 12_500_000 + 10_000_000_000);
    let over = TokenCounts {
        input: 100_001,
        ..at_limit
    };
    // 100,001 x 2.5 + 100,000 x 0.25 + 1,000,000 x 15 per million.
    assert_eq!(
        gemini(over),
        250_002_500 + 25_000_000 + 15_000_000_000,
        "the whole request moves to the tier"
    );
}

// ---- overrides, aliases and the fallback ----

#[test]
fn overrides_win_and_add_models() {
    let prices = r#"{
        "m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        "n": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}
    }"#;
    let overrides = r#"{
        "N": {"input_cost_per_token": 5e-06, "output_cost_per_token": 6e-06},
        "local-model": {"input_cost_per_token": 7e-06, "output_cost_per_token": 8e-06},
        "my-alias": {"alias_of": "local-model"}
    }"#;
    let table = small_table(prices, Some(overrides)).expect("valid");
    let n = table.resolve("n").expect("known");
    assert_eq!(n.source, PriceSource::Overrides);
    assert_eq!(n.prices.base.input, 5_000_000_000);
    assert_eq!(table.path_of(n.source), Path::new("overrides.json"));
    assert_eq!(table.quote("m").prices.base.input, 1_000_000_000);
    assert_eq!(table.quote("my-alias").priced_as, "local-model");
    assert_eq!(table.quote("local-model").prices.base.output, 8_000_000_000);

    // An override for a name the release spells another way (here a Bedrock id) wins too.
    let bedrock = r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
        "anthropic.claude-z-20250101-v1:0": {"input_cost_per_token": 9e-06, "output_cost_per_token": 9e-06}}"#;
    let fix =
        r#"{"claude-z-20250101": {"input_cost_per_token": 3e-06, "output_cost_per_token": 4e-06}}"#;
    let table = small_table(bedrock, Some(fix)).expect("valid");
    assert_eq!(
        table
            .quote("us.anthropic.claude-z-20250101-v1:0")
            .prices
            .base
            .input,
        3_000_000_000
    );
}

#[test]
fn spellings_of_one_model_in_one_file_pick_the_most_direct_entry() {
    let prices = r#"{
        "m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
        "us.anthropic.claude-a-v1:0": {"input_cost_per_token": 3.3e-06, "output_cost_per_token": 1e-06},
        "global.anthropic.claude-a-v1:0": {"input_cost_per_token": 3.1e-06, "output_cost_per_token": 1e-06},
        "anthropic.claude-a-v1:0": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1e-06},
        "eu.anthropic.claude-b-v1:0": {"input_cost_per_token": 2.2e-06, "output_cost_per_token": 1e-06},
        "us.anthropic.claude-b-v1:0": {"input_cost_per_token": 2.1e-06, "output_cost_per_token": 1e-06},
        "gemini/gem": {"input_cost_per_token": 2e-06, "output_cost_per_token": 1e-06},
        "gem": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}
    }"#;
    let table = small_table(prices, None).expect("valid");
    let a = table.resolve("us.anthropic.claude-a-v1:0").expect("known");
    assert_eq!((&*a.id, &*a.entry), ("claude-a", "anthropic.claude-a-v1:0"));
    // Only regional entries: the alphabetically first region.
    let b = table.resolve("claude-b").expect("known");
    assert_eq!(&*b.entry, "eu.anthropic.claude-b-v1:0");
    let gem = table.resolve("gemini/gem").expect("known");
    assert_eq!(&*gem.entry, "gem");
}

#[test]
fn an_undated_id_joins_its_only_dated_twin_with_the_same_prices() {
    let prices = r#"{
        "m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
        "x": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        "x-20250101": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        "y": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        "y-20250101": {"input_cost_per_token": 1e-06, "output_cost_per_token": 3e-06},
        "z": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        "z-2025-01-01": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        "z-2025-06-01": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        "w-20250101": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}
    }"#;
    let table = small_table(prices, None).expect("valid");
    assert_eq!(table.quote("x").priced_as, "x-20250101");
    // Different prices: two models.
    assert_eq!(table.quote("y").priced_as, "y");
    // Two dated twins: the undated id is its own row.
    assert_eq!(table.quote("z").priced_as, "z");
    // No undated entry: the undated name still finds the only dated one.
    assert_eq!(table.quote("w").priced_as, "w-20250101");
    let x = table.resolve("x").expect("known");
    assert_eq!(x.names().collect::<Vec<_>>(), ["x", "x-20250101"]);
    // m, x-20250101, y, y-20250101, z, z-2025-01-01, z-2025-06-01, w-20250101.
    assert_eq!(table.model_count(), 8);
}

#[test]
fn aliases_must_name_a_priced_entry() {
    let message = error_text(small_table(
        r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}}"#,
        Some(r#"{"nick": {"alias_of": "nowhere"}}"#),
    ));
    assert!(message.contains("overrides.json"), "{message}");
    assert!(
        message.contains("`nick`") && message.contains("`nowhere`"),
        "{message}"
    );
    // Chains resolve.
    let table = small_table(
        r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
            "a": {"alias_of": "b"}, "b": {"alias_of": "m"}}"#,
        None,
    )
    .expect("valid");
    assert_eq!(table.quote("a").priced_as, "m");
}

#[test]
fn the_fallback_must_be_a_priced_model_that_charges() {
    let unknown = error_text(PricingTable::from_json(
        (
            Path::new("p.json"),
            r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}}"#,
        ),
        None,
        "nope",
    ));
    assert!(
        unknown.contains("pricing_fallback_model `nope`"),
        "{unknown}"
    );
    for (field, json) in [
        (
            "input",
            r#"{"m": {"input_cost_per_token": 0, "output_cost_per_token": 1e-06}}"#,
        ),
        (
            "output",
            r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 0.0}}"#,
        ),
    ] {
        let message = error_text(small_table(json, None));
        assert!(message.contains("pricing_fallback_model"), "{message}");
        assert!(message.contains(&format!("`{field}`")), "{message}");
    }
    // Any spelling of a known model will do.
    let table = PricingTable::from_json(
        (
            Path::new("p.json"),
            r#"{"m-20250101": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}}"#,
        ),
        None,
        "M",
    )
    .expect("valid");
    assert_eq!(&*table.fallback().id, "m-20250101");
}

#[test]
fn explicitly_free_models_are_allowed() {
    let table = small_table(
        r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06},
            "free": {"input_cost_per_token": 0, "output_cost_per_token": 0, "cache_read_input_token_cost": 0,
                     "cache_creation_input_token_cost": 0, "cache_creation_input_token_cost_above_1hr": 0}}"#,
        None,
    )
    .expect("valid");
    let quote = table.quote("free");
    assert!(!quote.fallback);
    assert_eq!(*quote.prices, ModelPrices::default());
}

#[test]
fn load_errors_name_the_file() {
    let load = |prices: &Path, overrides: Option<&Path>| {
        error_text(PricingTable::load(&PricingFiles {
            prices,
            overrides,
            fallback_model: "m",
        }))
    };
    let missing = Path::new("/nonexistent/keyward/prices.json");
    assert!(load(missing, None).contains("/nonexistent/keyward/prices.json"));
    let missing_overrides = load(Path::new(SHIPPED_PRICES), Some(missing));
    assert!(
        missing_overrides.contains("/nonexistent/keyward/prices.json"),
        "{missing_overrides}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": -2e-06}}"#,
    )
    .expect("write");
    let message = load(&bad, None);
    assert!(message.contains(&bad.display().to_string()), "{message}");
    assert!(message.contains("entry `m`"), "{message}");
    assert!(message.contains("`output_cost_per_token`"), "{message}");
}

// ---- cost ----

/// Sonnet 4.5 in nano-USD per million tokens: $3 / $15 / $3.75 / $6 / $0.30.
const SONNET_4_5: ModelPrice = ModelPrice {
    input: 3_000_000_000,
    output: 15_000_000_000,
    cache_write_5m: 3_750_000_000,
    cache_write_1h: 6_000_000_000,
    cache_read: 300_000_000,
};

#[test]
fn shipped_sonnet_4_5_price_matches_hand_computed_nanos() {
    assert_eq!(
        shipped_table().quote("claude-sonnet-4-5").prices.base,
        SONNET_4_5
    );
}

#[test]
fn cost_of_mixed_sonnet_4_5_usage() {
    let counts = TokenCounts {
        input: 1_000,
        output: 500,
        cache_write_5m: 2_000,
        cache_write_1h: 3_000,
        cache_read: 4_000,
    };
    // 1000*3000 + 500*15000 + 2000*3750 + 3000*6000 + 4000*300 nano-USD = $0.0372
    let total = cost(&counts, &SONNET_4_5).expect("no overflow");
    assert_eq!(total, NanoUsd(37_200_000));
    assert_eq!(total.to_string(), "0.0372");
}

#[test]
fn costs_round_once_half_up() {
    // 0.4 and 0.5 nano-USD per token ($0.0004 and $0.0005 per million).
    let price = ModelPrice {
        cache_read: 400_000,
        input: 500_000,
        output: 100_000,
        ..ModelPrice::default()
    };
    let of = |counts: TokenCounts| cost(&counts, &price).expect("fits").nanos();
    assert_eq!(of(one_kind(4, 1)), 0, "0.4");
    assert_eq!(of(one_kind(4, 2)), 1, "0.8");
    assert_eq!(of(one_kind(0, 1)), 1, "0.5 rounds up");
    assert_eq!(of(one_kind(0, 3)), 2, "1.5 rounds up");
    // The lines are added before the one rounding: 0.4 + 0.1 = 0.5 -> 1 (not 0 + 0).
    let counts = TokenCounts {
        cache_read: 1,
        output: 1,
        ..TokenCounts::default()
    };
    assert_eq!(of(counts), 1);
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

    // Exactly i64::MAX nano-USD still fits; one more does not.
    let per_million = ModelPrice {
        input: 1_000_000,
        output: 1_000_000,
        ..ModelPrice::default()
    };
    let at_limit = TokenCounts {
        input: i64::MAX as u64,
        ..TokenCounts::default()
    };
    assert_eq!(cost(&at_limit, &per_million), Some(NanoUsd(i64::MAX)));
    let over_limit = TokenCounts {
        output: 1,
        ..at_limit
    };
    assert_eq!(cost(&over_limit, &per_million), None);

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
    assert_eq!(counts.prompt(), 13);
    assert_eq!(counts.all(), 15);

    let huge = TokenCounts {
        input: u64::MAX,
        cache_read: 1,
        ..TokenCounts::default()
    };
    assert_eq!(huge.all(), u64::MAX);
}

#[test]
fn usage_is_grouped_under_the_canonical_id_or_the_normalised_unknown_name() {
    let table = shipped_table();
    let alias = "claude-opus-4-1";
    assert_eq!(
        table.quote(alias).usage_model_name(alias),
        "claude-opus-4-1-20250805"
    );
    let unknown = "US.anthropic.Claude-Next-v1:0";
    assert_eq!(
        table.quote(unknown).usage_model_name(unknown),
        "claude-next"
    );
}

#[test]
fn live_pricing_swaps_whole_tables() {
    let first = small_table(
        r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}}"#,
        None,
    )
    .expect("valid");
    let second = small_table(
        r#"{"m": {"input_cost_per_token": 2e-06, "output_cost_per_token": 1e-06}}"#,
        None,
    )
    .expect("valid");
    let live = LivePricing::new(first);
    let held = live.current();
    live.replace(second);
    assert_eq!(
        held.quote("m").prices.base.input,
        1_000_000_000,
        "in-flight table kept"
    );
    assert_eq!(live.current().quote("m").prices.base.input, 2_000_000_000);
}
