//! Issued API keys: generation from the OS CSPRNG, format check, and the stored hash.

use rand::{Rng, RngExt};
use sha2::{Digest, Sha256};

/// Random bytes in a key; shown as twice as many lowercase hex characters.
const KEY_RANDOM_BYTES: usize = 32;

/// A new key: `prefix` + 64 lowercase hex characters.
pub fn generate_key(prefix: &str) -> String {
    format!("{prefix}{}", random_hex(KEY_RANDOM_BYTES))
}

/// `bytes` random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// A random password of letters and digits, for the generated first admin password.
pub fn random_password(length: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}

/// What identifies a key to people without revealing it: the prefix, the first 4 and the last
/// 4 characters of its random part (`cr_1a2b…9f0e`).
pub fn key_hint(prefix: &str, secret: &str) -> String {
    let random = secret.strip_prefix(prefix).unwrap_or(secret);
    let chars: Vec<char> = random.chars().collect();
    if chars.len() < 8 {
        return format!("{prefix}…");
    }
    let first: String = chars[..4].iter().collect();
    let last: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}{first}…{last}")
}

/// Whether `candidate` has the shape of an issued key, so malformed keys never reach Redis.
pub fn has_key_format(prefix: &str, candidate: &str) -> bool {
    candidate.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == KEY_RANDOM_BYTES * 2
            && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// What keyward stores to recognise its encryption key later: a hash of a fixed text with the
/// key mixed in as for key hashes, so it reveals no more about the key than any key hash does.
pub fn encryption_fingerprint(encryption_key: &str) -> String {
    key_hash("keyward encryption key check v1", encryption_key)
}

/// The stored form of a key: `sha256_hex(key + encryption_key)`, as claude-relay-service
/// computes it, so keys imported from there keep working.
pub fn key_hash(key: &str, encryption_key: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(key.as_bytes());
    hasher.update(encryption_key.as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_show_four_characters_at_each_end() {
        let secret = format!("cr_abcd{}wxyz", "0".repeat(56));
        assert_eq!(key_hint("cr_", &secret), "cr_abcd…wxyz");
    }

    #[test]
    fn generated_keys_have_the_format() {
        let key = generate_key("cr_");
        assert_eq!(key.len(), 3 + 64);
        assert!(has_key_format("cr_", &key));
        assert_ne!(generate_key("cr_"), key);
    }

    #[test]
    fn lookalikes_are_refused() {
        let body = "a".repeat(64);
        assert!(has_key_format("cr_", &format!("cr_{body}")));
        assert!(!has_key_format("cr_", &format!("sk_{body}")));
        assert!(!has_key_format("cr_", &format!("cr_{}", "a".repeat(63))));
        assert!(!has_key_format("cr_", &format!("cr_{}", "a".repeat(65))));
        assert!(!has_key_format("cr_", &format!("cr_{}", "A".repeat(64))));
        assert!(!has_key_format("cr_", &format!("cr_{}g", "a".repeat(63))));
    }

    #[test]
    fn hash_is_sha256_of_key_and_secret() {
        // sha256("abc") with an empty secret is the well-known test vector.
        assert_eq!(
            key_hash("abc", ""),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(key_hash("ab", "c"), key_hash("abc", ""));
    }
}
