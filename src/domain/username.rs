//! Admin usernames: 1-64 printable characters, so a name can neither bloat Redis keys nor
//! forge log lines.

use std::fmt;

pub const MAX_USERNAME_CHARS: usize = 64;

/// A valid admin username. Its `Debug` form escapes quotes and anything unusual: log it with
/// `?username`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AdminUsername(String);

/// Characters that are not control characters but still change how a line reads: line and
/// paragraph separators, zero-width and bidirectional controls, the soft hyphen, the BOM.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

impl AdminUsername {
    /// Takes the name as typed; the message says what is wrong, for the form.
    pub fn parse(value: &str) -> Result<AdminUsername, &'static str> {
        if value.is_empty() {
            return Err("Enter a username.");
        }
        if value.chars().count() > MAX_USERNAME_CHARS {
            return Err("A username has at most 64 characters.");
        }
        if value
            .chars()
            .any(|c| c.is_control() || is_invisible_format(c))
        {
            return Err(
                "A username cannot contain line breaks, tabs or other invisible characters.",
            );
        }
        if value.trim() != value {
            return Err("A username cannot start or end with a space.");
        }
        Ok(AdminUsername(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminUsername {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// The name as is: safe in HTML templates (escaped there) and in messages, not raw in logs.
impl fmt::Display for AdminUsername {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Up to 64 characters of untrusted text, escaped, for logging a name that was refused.
pub fn loggable(untrusted: &str) -> String {
    let head: String = untrusted.chars().take(MAX_USERNAME_CHARS).collect();
    format!("{head:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_accepted() {
        for name in [
            "admin",
            "Zoë Müller",
            "ops@example.com",
            "a",
            &"x".repeat(64),
        ] {
            assert_eq!(
                AdminUsername::parse(name).map(|u| u.0),
                Ok(name.to_string())
            );
        }
    }

    #[test]
    fn long_empty_and_invisible_names_are_refused() {
        for name in [
            "",
            &"x".repeat(65),
            "admin\nINFO forged",
            "admin\r",
            "tab\tname",
            "nul\0",
            "next\u{0085}line",
            "line\u{2028}sep",
            "rtl\u{202E}override",
            "zero\u{200B}width",
            " admin",
            "admin ",
        ] {
            assert!(AdminUsername::parse(name).is_err(), "{name:?}");
        }
        // 64 characters, not bytes.
        assert!(AdminUsername::parse(&"é".repeat(64)).is_ok());
    }

    #[test]
    fn debug_form_escapes() {
        let name = AdminUsername::parse("o\"brien").expect("valid");
        assert_eq!(format!("{name:?}"), r#""o\"brien""#);
        assert_eq!(loggable("a\nb"), r#""a\nb""#);
        assert_eq!(loggable(&"y".repeat(100)).len(), 64 + 2);
    }
}
