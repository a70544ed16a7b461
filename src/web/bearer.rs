//! Bearer-token checks for the relay API and for admin automation.

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

/// Whether the request carries `Authorization: Bearer <expected>`; always false when no
/// token is configured. Compared in constant time.
pub fn has_bearer(headers: &HeaderMap, expected: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return false;
    };
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.trim().as_bytes().ct_eq(expected.as_bytes())))
}
