//! Client restriction: which configured client ids a request's User-Agent matches.

use std::collections::BTreeMap;

use regex::Regex;

#[derive(Debug, Clone)]
pub struct ClientMatcher {
    patterns: Vec<(String, Regex)>,
}

impl ClientMatcher {
    pub fn new(patterns: &BTreeMap<String, String>) -> Result<ClientMatcher, String> {
        let mut compiled = Vec::with_capacity(patterns.len());
        for (id, pattern) in patterns {
            if !is_client_id(id) {
                return Err(format!(
                    "client id `{id}` must be 1-64 letters, digits or `_`"
                ));
            }
            let regex = Regex::new(pattern).map_err(|e| format!("pattern of `{id}`: {e}"))?;
            compiled.push((id.clone(), regex));
        }
        Ok(ClientMatcher { patterns: compiled })
    }

    pub fn ids(&self) -> Vec<&str> {
        self.patterns.iter().map(|(id, _)| id.as_str()).collect()
    }

    pub fn knows(&self, id: &str) -> bool {
        self.patterns.iter().any(|(known, _)| known == id)
    }

    /// The ids whose pattern matches `user_agent`.
    pub fn matching(&self, user_agent: &str) -> Vec<&str> {
        self.patterns
            .iter()
            .filter(|(_, regex)| regex.is_match(user_agent))
            .map(|(id, _)| id.as_str())
            .collect()
    }
}

fn is_client_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> ClientMatcher {
        let patterns = [
            ("claude_code", r"^claude-cli/\d+\.\d+\.\d+"),
            ("gemini_cli", r"^GeminiCLI/v?[\d.]+"),
            ("codex_cli", r"^(codex_vscode|codex_cli_rs|codex_exec)/"),
            ("droid_cli", r"^factory-cli/"),
        ];
        let map = patterns
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ClientMatcher::new(&map).expect("valid patterns")
    }

    #[test]
    fn user_agents_match_their_client() {
        let m = shipped();
        assert_eq!(
            m.matching("claude-cli/1.0.83 (external, cli)"),
            vec!["claude_code"]
        );
        assert_eq!(
            m.matching("GeminiCLI/v0.1.5 (linux; x64)"),
            vec!["gemini_cli"]
        );
        assert_eq!(m.matching("codex_cli_rs/0.38.0"), vec!["codex_cli"]);
        assert_eq!(m.matching("factory-cli/0.1"), vec!["droid_cli"]);
        assert!(m.matching("curl/8.0").is_empty());
        assert!(m.matching("xclaude-cli/1.0.0").is_empty());
        assert!(m.matching("claude-cli/1.0").is_empty());
    }

    #[test]
    fn bad_patterns_are_refused() {
        let map = [("x".to_string(), "(".to_string())].into_iter().collect();
        assert!(ClientMatcher::new(&map).is_err());
        let map = [("bad id".to_string(), "a".to_string())]
            .into_iter()
            .collect();
        assert!(ClientMatcher::new(&map).is_err());
    }
}
