//! Model-name normalisation: explicit rules mapping the spellings relays and clients use onto one name.
//!
//! The rules, in order:
//! 1. trim and lowercase;
//! 2. drop a trailing context-window suffix in brackets: `claude-sonnet-4-5-20250929[1m]`;
//! 3. drop an `openai/` or `gemini/` provider prefix (LiteLLM's and some SDKs' spelling);
//! 4. Bedrock: `[<region>.]anthropic.<id>[-v<n>[:<m>]]` -> `<id>`;
//! 5. Vertex: `<id>[-v<n>]@<date>` -> `<id>-<date>`.
//!
//! Lookup afterwards is exact: loose substring matching would price `claude-sonnet-4-5` as
//! `claude-sonnet-4` (or the other way round) the moment a new model shares a prefix.

/// Longest name normalised on the stack. Longer (or non-ASCII) names take the allocating path;
/// the API accepts model names of at most 200 characters, so real names never do.
const STACK_NAME_BYTES: usize = 256;

/// Provider prefixes dropped by rule 3.
const PROVIDER_PREFIXES: [&str; 2] = ["openai/", "gemini/"];

/// A lowercased name taken apart by rules 2-5, borrowing from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NameParts<'a> {
    /// The name without suffix, prefixes and Bedrock version; for a Vertex id, the part before `@`
    /// (without its `-v<n>` revision).
    pub base: &'a str,
    /// The date after a Vertex `@`, joined to `base` with `-`.
    pub vertex_date: Option<&'a str>,
    /// A Bedrock cross-region prefix (`us`, `eu`, `global`, ...), if the name had one.
    pub bedrock_region: Option<&'a str>,
}

impl<'a> NameParts<'a> {
    /// Applies rules 2-5 to a name already trimmed and lowercased.
    pub fn of(lowercase_name: &'a str) -> NameParts<'a> {
        let without_context = strip_context_suffix(lowercase_name);
        let without_provider = PROVIDER_PREFIXES
            .iter()
            .find_map(|prefix| without_context.strip_prefix(prefix))
            .unwrap_or(without_context);
        let (without_bedrock, bedrock_region) = strip_bedrock_wrapping(without_provider);
        let (base, vertex_date) = split_vertex_date(without_bedrock);
        NameParts {
            base,
            vertex_date,
            bedrock_region,
        }
    }

    /// Length of the normalised name.
    fn len(&self) -> usize {
        self.base.len() + self.vertex_date.map_or(0, |date| 1 + date.len())
    }
}

/// The normalised form of `name` (rules 1-5). Allocates; lookups on the request path use
/// [`with_normalised`] instead.
pub fn normalise_model(name: &str) -> String {
    let lowercase_name = name.trim().to_lowercase();
    let parts = NameParts::of(&lowercase_name);
    match parts.vertex_date {
        Some(date) => format!("{}-{date}", parts.base),
        None => parts.base.to_owned(),
    }
}

/// Calls `with` with the normalised form of `name`, built in stack buffers, so pricing a request
/// allocates nothing. Names that are not ASCII or longer than the buffer go through
/// [`normalise_model`] (no table name is either, so they can only miss, but they must miss the
/// same way).
pub(super) fn with_normalised<R>(name: &str, with: impl FnOnce(&str) -> R) -> R {
    let trimmed = name.trim();
    if !trimmed.is_ascii() || trimmed.len() > STACK_NAME_BYTES {
        return with(&normalise_model(name));
    }
    let mut lowercase_bytes = [0u8; STACK_NAME_BYTES];
    let lowercase_slot = &mut lowercase_bytes[..trimmed.len()];
    lowercase_slot.copy_from_slice(trimmed.as_bytes());
    lowercase_slot.make_ascii_lowercase();
    // ASCII in, ASCII out: this cannot fail, but a failure must not panic.
    let Ok(lowercase_name) = std::str::from_utf8(lowercase_slot) else {
        return with(&normalise_model(name));
    };
    let parts = NameParts::of(lowercase_name);
    let Some(date) = parts.vertex_date else {
        return with(parts.base);
    };
    // `<base>-<date>` is never longer than the name it came from (`@` becomes `-`).
    let mut joined_bytes = [0u8; STACK_NAME_BYTES];
    let joined_len = parts.len();
    if joined_len > STACK_NAME_BYTES {
        return with(&normalise_model(name));
    }
    let base_len = parts.base.len();
    joined_bytes[..base_len].copy_from_slice(parts.base.as_bytes());
    joined_bytes[base_len] = b'-';
    joined_bytes[base_len + 1..joined_len].copy_from_slice(date.as_bytes());
    match std::str::from_utf8(&joined_bytes[..joined_len]) {
        Ok(joined) => with(joined),
        Err(_) => with(&normalise_model(name)),
    }
}

/// `name` without a trailing release date (`-20250514` as Anthropic writes it, `-2024-08-06` as
/// OpenAI does), or `None` when it has none.
pub(super) fn without_date_suffix(name: &str) -> Option<&str> {
    // `d` stands for a digit; the year must be of this century, so an 8-digit build number
    // is not taken for a date.
    const DATE_SHAPES: [&[u8]; 2] = [b"-20dddddd", b"-20dd-dd-dd"];
    let bytes = name.as_bytes();
    DATE_SHAPES.iter().find_map(|shape| {
        let start = bytes
            .len()
            .checked_sub(shape.len())
            .filter(|&start| start > 0)?;
        let fits =
            bytes[start..]
                .iter()
                .zip(shape.iter())
                .all(|(&byte, &expected)| match expected {
                    b'd' => byte.is_ascii_digit(),
                    other => byte == other,
                });
        fits.then(|| &name[..start])
    })
}

/// Rule 2. The suffix selects a context window, not another model, so the base row applies;
/// a long prompt is priced by the row's 200k tier, if it has one.
fn strip_context_suffix(name: &str) -> &str {
    if name.ends_with(']') {
        if let Some(open_bracket) = name.rfind('[') {
            return name[..open_bracket].trim_end();
        }
    }
    name
}

/// Rule 4: the bare id and the region prefix, if any.
fn strip_bedrock_wrapping(name: &str) -> (&str, Option<&str>) {
    const PROVIDER_PREFIX: &str = "anthropic.";
    let (bare_with_version, region) = match name.strip_prefix(PROVIDER_PREFIX) {
        Some(rest) => (rest, None),
        None => {
            // Cross-region inference profiles put a region group first: us., eu., apac., us-gov., global.
            let Some((region, rest)) = name.split_once('.') else {
                return (name, None);
            };
            let is_region = !region.is_empty()
                && region
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte == b'-');
            match rest.strip_prefix(PROVIDER_PREFIX) {
                Some(bare) if is_region => (bare, Some(region)),
                _ => return (name, None),
            }
        }
    };
    (strip_bedrock_version(bare_with_version), region)
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

/// Rule 5. Vertex also marks a second revision (`claude-3-5-sonnet-v2@20241022`) that Anthropic's
/// API names by date alone, so a `-v<n>` before the `@` goes too.
fn split_vertex_date(name: &str) -> (&str, Option<&str>) {
    let Some((base, date)) = name.rsplit_once('@') else {
        return (name, None);
    };
    if base.is_empty() || !is_ascii_digits(date) {
        return (name, None);
    }
    let base_without_revision = match base.rfind("-v") {
        Some(dash_v) if is_ascii_digits(&base[dash_v + 2..]) => &base[..dash_v],
        _ => base,
    };
    (base_without_revision, Some(date))
}

fn is_ascii_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_stack(name: &str) -> String {
        with_normalised(name, str::to_owned)
    }

    /// Both paths, which must agree.
    fn normalised(name: &str) -> String {
        let allocated = normalise_model(name);
        assert_eq!(on_stack(name), allocated, "{name:?}");
        allocated
    }

    #[test]
    fn trims_and_lowercases() {
        assert_eq!(normalised("  Claude-Sonnet-4-5 \n"), "claude-sonnet-4-5");
    }

    #[test]
    fn strips_context_suffix() {
        assert_eq!(
            normalised("claude-sonnet-4-5-20250929[1m]"),
            "claude-sonnet-4-5-20250929"
        );
        assert_eq!(normalised("claude-sonnet-4[1M]"), "claude-sonnet-4");
    }

    #[test]
    fn strips_openai_and_gemini_prefixes_once() {
        assert_eq!(normalised("gemini/gemini-2.5-pro"), "gemini-2.5-pro");
        assert_eq!(normalised("OpenAI/gpt-4o"), "gpt-4o");
        assert_eq!(normalised("openai/openai/gpt-4o"), "openai/gpt-4o");
        // Other providers' prefixes name other price lists (Azure, OpenRouter, ...): kept.
        assert_eq!(normalised("azure/gpt-4o"), "azure/gpt-4o");
        assert_eq!(
            normalised("vertex_ai/gemini-2.5-pro"),
            "vertex_ai/gemini-2.5-pro"
        );
    }

    #[test]
    fn unwraps_bedrock_ids() {
        for (bedrock, bare) in [
            (
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
                "claude-sonnet-4-20250514",
            ),
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                "claude-3-haiku-20240307",
            ),
            (
                "eu.anthropic.claude-3-5-sonnet-20241022-v2:0",
                "claude-3-5-sonnet-20241022",
            ),
            (
                "apac.anthropic.claude-opus-4-1-20250805-v1",
                "claude-opus-4-1-20250805",
            ),
            (
                "global.anthropic.claude-haiku-4-5-20251001-v1:0",
                "claude-haiku-4-5-20251001",
            ),
            (
                "us-gov.anthropic.claude-3-7-sonnet-20250219-v1:0",
                "claude-3-7-sonnet-20250219",
            ),
            (
                "anthropic.claude-sonnet-4-5-20250929",
                "claude-sonnet-4-5-20250929",
            ),
        ] {
            assert_eq!(normalised(bedrock), bare);
        }
        let parts = NameParts::of("us-gov.anthropic.claude-3-7-sonnet-20250219-v1:0");
        assert_eq!(parts.bedrock_region, Some("us-gov"));
        assert_eq!(
            NameParts::of("anthropic.claude-3-7-sonnet-20250219-v1:0").bedrock_region,
            None
        );
    }

    #[test]
    fn leaves_non_bedrock_dotted_names_alone() {
        // Only "<letters-and-dashes>." directly before "anthropic." counts as a region prefix.
        assert_eq!(
            normalised("us1.anthropic.claude-3-haiku-20240307-v1:0"),
            "us1.anthropic.claude-3-haiku-20240307-v1:0"
        );
        assert_eq!(normalised("gpt-4.1"), "gpt-4.1");
        // The version suffix is only stripped from Bedrock ids.
        assert_eq!(
            normalised("claude-3-haiku-20240307-v1:0"),
            "claude-3-haiku-20240307-v1:0"
        );
    }

    #[test]
    fn rewrites_vertex_ids() {
        assert_eq!(
            normalised("claude-sonnet-4@20250514"),
            "claude-sonnet-4-20250514"
        );
        assert_eq!(
            normalised("claude-3-5-sonnet-v2@20241022"),
            "claude-3-5-sonnet-20241022"
        );
        assert_eq!(
            normalised("claude-opus-4-1@20250805[1m]"),
            "claude-opus-4-1-20250805"
        );
        // Not a date: left for the exact lookup to reject.
        assert_eq!(
            normalised("claude-sonnet-4@latest"),
            "claude-sonnet-4@latest"
        );
        assert_eq!(normalised("@20250101"), "@20250101");
    }

    #[test]
    fn keeps_plain_ids() {
        assert_eq!(normalised("claude-sonnet-4-5"), "claude-sonnet-4-5");
        assert_eq!(
            normalised("claude-3-5-haiku-latest"),
            "claude-3-5-haiku-latest"
        );
        assert_eq!(normalised(""), "");
    }

    #[test]
    fn long_and_non_ascii_names_take_the_allocating_path_with_the_same_result() {
        let long = format!("  {}@20250101 ", "X".repeat(300));
        assert_eq!(normalised(&long), format!("{}-20250101", "x".repeat(300)));
        assert_eq!(normalised("Claudé-Ünknown[1m]"), "claudé-ünknown");
        let exactly_full = "a".repeat(STACK_NAME_BYTES - 9) + "@20250101";
        assert_eq!(
            normalised(&exactly_full),
            "a".repeat(STACK_NAME_BYTES - 9) + "-20250101"
        );
    }

    #[test]
    fn date_suffixes() {
        assert_eq!(
            without_date_suffix("claude-sonnet-4-20250514"),
            Some("claude-sonnet-4")
        );
        assert_eq!(without_date_suffix("gpt-4o-2024-08-06"), Some("gpt-4o"));
        for undated in [
            "gpt-4o",
            "gpt-4-0613",
            "-20250514",
            "model-12345678",
            "gpt-4o-2024-08-6",
            "claude-sonnet-4-2025051",
            "x-2024_08_06",
        ] {
            assert_eq!(without_date_suffix(undated), None, "{undated}");
        }
    }
}
