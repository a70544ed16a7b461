//! Identifiers: key ids (UUIDs), lease ids (bound to their key) and upstream account ids.

use std::fmt;

use uuid::Uuid;

use super::secret::random_hex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(Uuid);

impl KeyId {
    pub fn new() -> KeyId {
        KeyId(Uuid::new_v4())
    }

    /// Only the canonical hyphenated lowercase form is accepted, so one key has one spelling.
    pub fn parse(value: &str) -> Option<KeyId> {
        let uuid = Uuid::try_parse(value).ok()?;
        (uuid.hyphenated().to_string() == value).then_some(KeyId(uuid))
    }

    /// The id as a number whose order is the order of its text (lowercase hex, fixed hyphens).
    pub fn as_u128(self) -> u128 {
        self.0.as_u128()
    }

    pub fn from_u128(value: u128) -> KeyId {
        KeyId(Uuid::from_u128(value))
    }
}

impl Default for KeyId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

/// A concurrency lease: `<key id>.<32 hex>`. Carrying the key id lets renew and release find
/// the key's lease set without another lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseId {
    key: KeyId,
    text: String,
}

impl LeaseId {
    pub fn new(key: KeyId) -> LeaseId {
        LeaseId {
            key,
            text: format!("{key}.{}", random_hex(16)),
        }
    }

    pub fn parse(value: &str) -> Option<LeaseId> {
        let (key, random) = value.split_once('.')?;
        let random_ok = random.len() == 32
            && random
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        random_ok.then_some(())?;
        Some(LeaseId {
            key: KeyId::parse(key)?,
            text: value.to_string(),
        })
    }

    pub fn key(&self) -> KeyId {
        self.key
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// An upstream account id as the relay names it. `.` and `..` are refused: the dashboard links
/// to `/accounts/{id}`, and a browser resolves such a segment (even percent-encoded) as "this"
/// or "the parent" directory, so no link could reach them.
pub fn is_account_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && value != "."
        && value != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_round_trip() {
        let id = KeyId::new();
        assert_eq!(KeyId::parse(&id.to_string()), Some(id));
        assert_eq!(KeyId::parse(&id.to_string().to_uppercase()), None);
        assert_eq!(KeyId::parse("not-a-uuid"), None);
    }

    #[test]
    fn lease_ids_carry_their_key() {
        let key = KeyId::new();
        let lease = LeaseId::new(key);
        let parsed = LeaseId::parse(lease.as_str()).expect("valid");
        assert_eq!(parsed.key(), key);
        assert!(LeaseId::parse(&format!("{key}.xyz")).is_none());
        assert!(LeaseId::parse(&format!("{key}")).is_none());
        assert!(LeaseId::parse("x.0123456789abcdef0123456789abcdef").is_none());
    }

    #[test]
    fn account_ids() {
        assert!(is_account_id("acct-1"));
        assert!(!is_account_id(""));
        assert!(!is_account_id("a b"));
        assert!(!is_account_id(&"a".repeat(129)));
        assert!(is_account_id("../../logout"));
        assert!(!is_account_id(".."));
        assert!(!is_account_id("."));
    }
}
