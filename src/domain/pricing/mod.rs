//! Model prices: LiteLLM-format price files resolved to canonical models, and exact integer costs.

mod litellm;
mod names;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::money::NanoUsd;
use litellm::{FileEntry, ParsedFile};
use names::{with_normalised, without_date_suffix, NameParts};

pub use litellm::ParseError;
pub use names::normalise_model;

/// `priced_as` for models that were not in the table.
pub const FALLBACK_PRICED_AS: &str = "fallback";

/// A request whose prompt (input + cache read + cache write) is larger than this is priced whole
/// at its model's `*_above_200k_tokens` prices, when the model has them.
pub const TIER_PROMPT_TOKENS: u64 = 200_000;

/// Prices are kept per million tokens; a cost is the sum of tokens x price, divided by this once.
const TOKENS_PER_MILLION: u128 = 1_000_000;

/// Prices of one model in nano-USD per million tokens (10^-15 USD per token), for each kind of
/// token a request is billed for. Fine enough that every per-token price of the shipped table
/// (down to $0.005 per million) is a whole number, so costs are exact integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ModelPrice {
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens (reasoning included).
    pub output: u64,
    /// Prompt-cache writes with the 5-minute lifetime.
    pub cache_write_5m: u64,
    /// Prompt-cache writes with the 1-hour lifetime.
    pub cache_write_1h: u64,
    /// Prompt-cache hits.
    pub cache_read: u64,
}

/// A model's prices: the base ones and, for models priced higher for long prompts, the ones
/// that apply to a whole request whose prompt is above [`TIER_PROMPT_TOKENS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ModelPrices {
    pub base: ModelPrice,
    pub above_200k: Option<ModelPrice>,
}

impl ModelPrices {
    /// The prices a request with these counts pays.
    pub fn for_counts(&self, counts: &TokenCounts) -> &ModelPrice {
        match &self.above_200k {
            Some(tier) if counts.prompt() > TIER_PROMPT_TOKENS => tier,
            _ => &self.base,
        }
    }
}

/// Tokens of one request by billing kind, normalised from whichever provider's usage shape was
/// reported. Usage without a `cache_creation` breakdown should put all
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

    /// The prompt's size: input, cache reads and cache writes (what the 200k tier looks at).
    pub fn prompt(&self) -> u64 {
        self.input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_create_total())
    }

    /// Every token of the request. Saturates because this is a usage statistic, not money.
    pub fn all(&self) -> u64 {
        self.prompt().saturating_add(self.output)
    }
}

/// The prices chosen for a model name, and under which name they were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceQuote<'a> {
    pub prices: &'a ModelPrices,
    /// The canonical model id, or [`FALLBACK_PRICED_AS`].
    pub priced_as: &'a str,
    /// True when the model was unknown; callers flag this in responses, logs and metrics.
    pub fallback: bool,
}

impl<'a> PriceQuote<'a> {
    /// The prices a request with these counts pays (the 200k tier for long prompts).
    pub fn price_for(&self, counts: &TokenCounts) -> &'a ModelPrice {
        self.prices.for_counts(counts)
    }

    /// Exact cost of `counts`; `None` if it does not fit in `i64` nano-USD.
    pub fn cost(&self, counts: &TokenCounts) -> Option<NanoUsd> {
        cost(counts, self.price_for(counts))
    }

    /// The model name usage is grouped under: the canonical id, so every spelling of a model
    /// is one row; for an unknown model, its normalised name (it has no canonical one).
    pub fn usage_model_name(&self, model: &str) -> Cow<'a, str> {
        if self.fallback {
            Cow::Owned(normalise_model(model))
        } else {
            Cow::Borrowed(self.priced_as)
        }
    }
}

/// Exact cost of `counts` at `price`: every line summed in nano-USD per million tokens, then
/// divided once, rounding half up. `None` if it does not fit in `i64` nano-USD.
pub fn cost(counts: &TokenCounts, price: &ModelPrice) -> Option<NanoUsd> {
    let line_items = [
        (counts.input, price.input),
        (counts.output, price.output),
        (counts.cache_write_5m, price.cache_write_5m),
        (counts.cache_write_1h, price.cache_write_1h),
        (counts.cache_read, price.cache_read),
    ];
    let mut total_per_million: u128 = 0;
    for (tokens, nanos_per_million) in line_items {
        let line = u128::from(tokens).checked_mul(u128::from(nanos_per_million))?;
        total_per_million = total_per_million.checked_add(line)?;
    }
    let nanos = total_per_million.checked_add(TOKENS_PER_MILLION / 2)? / TOKENS_PER_MILLION;
    i64::try_from(nanos).ok().map(NanoUsd::from_nanos)
}

/// Where the prices come from: the shipped LiteLLM file, local overrides in the same format
/// (whose entries win), and the model whose price unknown models pay.
#[derive(Debug, Clone, Copy)]
pub struct PricingFiles<'a> {
    pub prices: &'a Path,
    pub overrides: Option<&'a Path>,
    pub fallback_model: &'a str,
}

/// Which file a row's prices were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PriceSource {
    /// `pricing_file`.
    Prices,
    /// `pricing_overrides_file`.
    Overrides,
}

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("cannot read pricing file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("pricing file {}: {source}", .path.display())]
    Parse { path: PathBuf, source: ParseError },
    #[error("pricing file {}: entry {entry:?} is empty after normalisation", .path.display())]
    EmptyName { path: PathBuf, entry: String },
    #[error(
        "pricing file {}: entry `{entry}` is alias_of `{target}`, which no priced entry of the table matches",
        .path.display()
    )]
    AliasTarget {
        path: PathBuf,
        entry: String,
        target: String,
    },
    #[error("pricing_fallback_model `{model}` is not in the pricing table")]
    UnknownFallback { model: String },
    #[error(
        "pricing_fallback_model `{model}`: its `{field}` price must be above zero, or unknown models would be billed $0"
    )]
    FreeFallback { model: String, field: &'static str },
}

/// One canonical model of the table.
#[derive(Debug, Clone)]
pub struct PricedModel {
    /// The canonical id: the normalised name of the entry the prices came from.
    pub id: Box<str>,
    pub prices: ModelPrices,
    pub source: PriceSource,
    /// The entry's name as written in its file (e.g. `anthropic.claude-opus-4-20250514-v1:0`).
    pub entry: Box<str>,
    /// Every normalised name that resolves to this row, sorted.
    names: Vec<Box<str>>,
}

impl PricedModel {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|name| &**name)
    }
}

/// Figures of one load, for the start-up log.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadSummary {
    /// Entries read from both files (the schema example not counted).
    pub entries: usize,
    /// Entries without input and output prices per token (images, embeddings, ...): skipped.
    pub unpriced: usize,
    /// Prices finer than a nano-USD per million tokens, rounded half up.
    pub rounded_prices: usize,
}

/// Prices by model name, resolved through the normalisation rules and aliases to canonical rows.
///
/// Lookups borrow: the index maps every normalised name (ids, aliases, derived undated ids) to
/// a row, with boxed-str keys that `HashMap::get` takes as `&str`, and request names are
/// normalised into stack buffers, so pricing a request allocates nothing.
pub struct PricingTable {
    models: Vec<PricedModel>,
    model_index_by_name: HashMap<Box<str>, usize>,
    /// A copy of the row unknown models are priced with.
    fallback: PricedModel,
    /// The `pricing_fallback_model` setting it was found by.
    fallback_model: Box<str>,
    prices_path: PathBuf,
    overrides_path: Option<PathBuf>,
    summary: LoadSummary,
}

impl fmt::Debug for PricingTable {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PricingTable")
            .field("models", &self.models.len())
            .field("names", &self.model_index_by_name.len())
            .field("fallback_model", &self.fallback_model)
            .field("prices_path", &self.prices_path)
            .field("overrides_path", &self.overrides_path)
            .finish()
    }
}

/// The winning entry for one normalised name while the table is built.
struct Candidate<'f> {
    source: PriceSource,
    rank: u8,
    entry: &'f str,
    kind: &'f FileEntry,
}

impl PricingTable {
    /// Reads both files and builds the table; every error names the file (and the entry).
    pub fn load(files: &PricingFiles<'_>) -> Result<PricingTable, PricingError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| PricingError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let prices_text = read(files.prices)?;
        let overrides_text = files.overrides.map(read).transpose()?;
        let overrides = match (files.overrides, overrides_text.as_deref()) {
            (Some(path), Some(text)) => Some((path, text)),
            _ => None,
        };
        PricingTable::from_json(
            (files.prices, &prices_text),
            overrides,
            files.fallback_model,
        )
    }

    /// Builds the table from file texts; the paths only name the files in errors and output.
    pub fn from_json(
        prices: (&Path, &str),
        overrides: Option<(&Path, &str)>,
        fallback_model: &str,
    ) -> Result<PricingTable, PricingError> {
        let parse = |(path, text): (&Path, &str)| {
            litellm::parse_file(text).map_err(|source| PricingError::Parse {
                path: path.to_path_buf(),
                source,
            })
        };
        let parsed_prices = parse(prices)?;
        let parsed_overrides = overrides.map(parse).transpose()?;
        let mut sources = vec![(PriceSource::Prices, prices.0, &parsed_prices)];
        if let (Some((path, _)), Some(parsed)) = (overrides, parsed_overrides.as_ref()) {
            sources.push((PriceSource::Overrides, path, parsed));
        }
        let built = build(&sources)?;
        let fallback = built
            .resolve(fallback_model)
            .and_then(|model_index| built.models.get(model_index))
            .cloned()
            .ok_or_else(|| PricingError::UnknownFallback {
                model: fallback_model.to_owned(),
            })?;
        // Input and output are what every request pays; a zero there is the silent $0 bill of
        // claude-relay-service #494/#502. Cache prices may legitimately be zero.
        let base = fallback.prices.base;
        for (field, price) in [("input", base.input), ("output", base.output)] {
            if price == 0 {
                return Err(PricingError::FreeFallback {
                    model: fallback_model.to_owned(),
                    field,
                });
            }
        }
        Ok(PricingTable {
            models: built.models,
            model_index_by_name: built.model_index_by_name,
            fallback,
            fallback_model: fallback_model.into(),
            prices_path: prices.0.to_path_buf(),
            overrides_path: overrides.map(|(path, _)| path.to_path_buf()),
            summary: built.summary,
        })
    }

    /// Prices for a model name as a client or relay sent it; unknown names get the fallback,
    /// flagged. Allocates nothing.
    pub fn quote(&self, model: &str) -> PriceQuote<'_> {
        match self.resolve(model) {
            Some(priced_model) => PriceQuote {
                prices: &priced_model.prices,
                priced_as: &priced_model.id,
                fallback: false,
            },
            None => PriceQuote {
                prices: &self.fallback().prices,
                priced_as: FALLBACK_PRICED_AS,
                fallback: true,
            },
        }
    }

    /// The row a model name resolves to: its normalised name, or else (a dated id the file
    /// lacks) its undated id.
    pub fn resolve(&self, model: &str) -> Option<&PricedModel> {
        self.resolve_index(model)
            .and_then(|model_index| self.models.get(model_index))
    }

    fn resolve_index(&self, model: &str) -> Option<usize> {
        with_normalised(model, |normalised| {
            resolve_normalised(&self.model_index_by_name, normalised)
        })
    }

    /// The row unknown models are priced with.
    pub fn fallback(&self) -> &PricedModel {
        &self.fallback
    }

    /// The setting's value the fallback row was found by.
    pub fn fallback_model(&self) -> &str {
        &self.fallback_model
    }

    /// Every name a model restriction compares for `model`: the name as sent (trimmed and
    /// lowercased), its normalised form, and, when the table knows the model, every name of its
    /// row (normalised). An entry matches when it, or its own normalised form, is one of these,
    /// so `claude-opus-4-1` and `us.anthropic.claude-opus-4-1-20250805-v1:0` meet whichever
    /// spelling was restricted. Resolved against the table in use, so aliases added later count.
    pub fn restriction_names(&self, model: &str) -> Vec<String> {
        let as_sent = model.trim().to_lowercase();
        let normalised = normalise_model(&as_sent);
        let row_names = resolve_normalised(&self.model_index_by_name, &normalised)
            .and_then(|model_index| self.models.get(model_index))
            .map(|row| row.names.as_slice())
            .unwrap_or_default();
        let mut names = Vec::with_capacity(2 + row_names.len());
        for name in [as_sent, normalised]
            .into_iter()
            .chain(row_names.iter().map(|name| name.to_string()))
        {
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// Number of canonical model rows (not counting aliases).
    pub fn model_count(&self) -> usize {
        self.models.len()
    }

    /// Number of names that resolve to a row.
    pub fn name_count(&self) -> usize {
        self.model_index_by_name.len()
    }

    /// The overrides file the table was built with, if any.
    pub fn overrides_path(&self) -> Option<&Path> {
        self.overrides_path.as_deref()
    }

    /// The file a row's prices came from.
    pub fn path_of(&self, source: PriceSource) -> &Path {
        match (source, &self.overrides_path) {
            (PriceSource::Overrides, Some(path)) => path,
            _ => &self.prices_path,
        }
    }

    pub fn summary(&self) -> LoadSummary {
        self.summary
    }
}

/// The row of a normalised name: the name itself, or else (a dated id the file lacks, e.g. a
/// new snapshot) its undated id.
fn resolve_normalised(index: &HashMap<Box<str>, usize>, normalised: &str) -> Option<usize> {
    index
        .get(normalised)
        .or_else(|| without_date_suffix(normalised).and_then(|undated| index.get(undated)))
        .copied()
}

/// Rows and names, before the fallback is chosen.
struct BuiltTable {
    models: Vec<PricedModel>,
    model_index_by_name: HashMap<Box<str>, usize>,
    summary: LoadSummary,
}

impl BuiltTable {
    fn resolve(&self, model: &str) -> Option<usize> {
        with_normalised(model, |normalised| {
            resolve_normalised(&self.model_index_by_name, normalised)
        })
    }
}

/// How directly an entry's name spells its normalised name; among entries of one file with the
/// same normalised name the lowest rank wins (then the alphabetically first name):
/// 0: already normalised (up to case): `claude-sonnet-4-5-20250929`, `gpt-4o`;
/// 1: rewritten without a region: `anthropic.claude-opus-4-20250514-v1:0`, `gemini/gemini-2.5-pro`;
/// 2: Bedrock's `global.` profile; 3: other Bedrock regions, which AWS prices with a premium
///    that is not the model's list price.
fn entry_rank(entry: &str, normalised: &str) -> u8 {
    let lowercase_entry = entry.trim().to_lowercase();
    if lowercase_entry == normalised {
        return 0;
    }
    match NameParts::of(&lowercase_entry).bedrock_region {
        None => 1,
        Some("global") => 2,
        Some(_) => 3,
    }
}

/// Builds rows and names from the files, in order of precedence (overrides last):
/// 1. entries are grouped by normalised name; an overrides entry replaces the price file's
///    entry of that name, and within one file the lowest [`entry_rank`] wins;
/// 2. each priced group is a row whose canonical id is the normalised name;
/// 3. an undated id and its only dated id with identical prices (`claude-opus-4-5`,
///    `claude-opus-4-5-20251101`) are one model: the undated name joins the dated row; an
///    undated id the files lack joins its only dated id's row;
/// 4. `alias_of` entries join their target's row.
fn build(sources: &[(PriceSource, &Path, &ParsedFile)]) -> Result<BuiltTable, PricingError> {
    let mut summary = LoadSummary::default();
    let mut groups: HashMap<String, Candidate<'_>> = HashMap::new();
    let mut path_of_source: HashMap<PriceSource, &Path> = HashMap::new();
    for &(source, path, parsed) in sources {
        path_of_source.insert(source, path);
        summary.rounded_prices += parsed.rounded_prices;
        for (entry, kind) in &parsed.entries {
            summary.entries += 1;
            if *kind == FileEntry::Unpriced {
                summary.unpriced += 1;
                continue;
            }
            let normalised = normalise_model(entry);
            if normalised.is_empty() {
                return Err(PricingError::EmptyName {
                    path: path.to_path_buf(),
                    entry: entry.clone(),
                });
            }
            let candidate = Candidate {
                source,
                rank: entry_rank(entry, &normalised),
                entry,
                kind,
            };
            let replaces = match groups.get(&normalised) {
                None => true,
                Some(current) => match candidate.source.cmp(&current.source) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Less => false,
                    std::cmp::Ordering::Equal => {
                        (candidate.rank, candidate.entry) < (current.rank, current.entry)
                    }
                },
            };
            if replaces {
                groups.insert(normalised, candidate);
            }
        }
    }

    let mut priced: BTreeMap<&str, (&Candidate<'_>, &ModelPrices)> = BTreeMap::new();
    let mut aliases: BTreeMap<&str, (&Candidate<'_>, &str)> = BTreeMap::new();
    for (name, candidate) in &groups {
        match candidate.kind {
            FileEntry::Priced(prices) => {
                priced.insert(name, (candidate, prices));
            }
            FileEntry::Alias(target) => {
                aliases.insert(name, (candidate, target));
            }
            FileEntry::Unpriced => {}
        }
    }

    let mut dated_by_undated: HashMap<&str, Vec<&str>> = HashMap::new();
    for &name in priced.keys() {
        if let Some(undated) = without_date_suffix(name) {
            dated_by_undated.entry(undated).or_default().push(name);
        }
    }
    // Undated name -> its dated twin, for rule 3.
    let mut joins: HashMap<&str, &str> = HashMap::new();
    for (&undated, dated) in &dated_by_undated {
        let [dated] = dated.as_slice() else { continue };
        match priced.get(undated) {
            Some((_, undated_prices)) => {
                let same_prices = priced
                    .get(dated)
                    .is_some_and(|(_, dated_prices)| dated_prices == undated_prices);
                if same_prices {
                    joins.insert(undated, dated);
                }
            }
            None if !aliases.contains_key(undated) => {
                joins.insert(undated, dated);
            }
            None => {}
        }
    }

    let mut models = Vec::with_capacity(priced.len());
    let mut model_index_by_name: HashMap<Box<str>, usize> =
        HashMap::with_capacity(groups.len() + joins.len());
    for (&name, &(candidate, prices)) in &priced {
        if joins.contains_key(name) {
            continue;
        }
        model_index_by_name.insert(name.into(), models.len());
        models.push(PricedModel {
            id: name.into(),
            prices: *prices,
            source: candidate.source,
            entry: candidate.entry.into(),
            names: Vec::new(),
        });
    }
    for (&undated, &dated) in &joins {
        if let Some(&model_index) = model_index_by_name.get(dated) {
            model_index_by_name.insert(undated.into(), model_index);
        }
    }

    // An alias may name another alias: resolve in passes until nothing changes.
    let mut pending: Vec<(&str, &Candidate<'_>, &str)> = aliases
        .iter()
        .map(|(&name, &(candidate, target))| (name, candidate, target))
        .collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|&(name, _, target)| {
            let resolved = with_normalised(target, |normalised| {
                resolve_normalised(&model_index_by_name, normalised)
            });
            match resolved {
                Some(model_index) => {
                    model_index_by_name.insert(name.into(), model_index);
                    false
                }
                None => true,
            }
        });
        if pending.len() == before {
            break;
        }
    }
    if let Some(&(_, candidate, target)) = pending.first() {
        return Err(PricingError::AliasTarget {
            path: path_of_source
                .get(&candidate.source)
                .map(|path| path.to_path_buf())
                .unwrap_or_default(),
            entry: candidate.entry.to_owned(),
            target: target.to_owned(),
        });
    }

    for (name, &model_index) in &model_index_by_name {
        if let Some(model) = models.get_mut(model_index) {
            model.names.push(name.clone());
        }
    }
    for model in &mut models {
        model.names.sort();
    }
    Ok(BuiltTable {
        models,
        model_index_by_name,
        summary,
    })
}

/// The table in use. A reload swaps in a whole new table, so every request prices with one
/// table throughout, and requests in flight keep the one they started with.
pub struct LivePricing(ArcSwap<PricingTable>);

impl LivePricing {
    pub fn new(table: PricingTable) -> LivePricing {
        LivePricing(ArcSwap::from_pointee(table))
    }

    /// The current table (one atomic increment; safe to hold across `.await`).
    pub fn current(&self) -> Arc<PricingTable> {
        self.0.load_full()
    }

    pub fn replace(&self, table: PricingTable) {
        self.0.store(Arc::new(table));
    }
}

impl fmt::Debug for LivePricing {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_tuple("LivePricing")
            .field(&self.0.load())
            .finish()
    }
}
