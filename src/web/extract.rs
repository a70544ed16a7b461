//! Request extractors: JSON bodies and query strings whose rejections name the offending field in
//! the API's error format, and URL-encoded form bodies for the pages.

use std::ops::Deref;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::{ApiError, PageError};

/// A JSON body of type `T`; wrong types, unknown fields and syntax errors become
/// `400 invalid_input` naming the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|_| ApiError::PayloadTooLarge("the request body is too large".into()))?;
        parse_json(&body).map(ApiJson)
    }
}

/// Parses one JSON value; anything but whitespace after it is refused, so a body is read one way
/// only (a proxy or a second parser cannot see a different request in the trailing bytes).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // The common case, a good body, without tracking the path (that costs on every field);
    // a bad one is read again with it, to name the field.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = parse_json_value(&mut deserializer)?;
    deserializer
        .end()
        .map_err(|_| ApiError::invalid("body", "unexpected characters after the JSON value"))?;
    Ok(value)
}

fn parse_json_value<'de, T: DeserializeOwned>(
    deserializer: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.to_string();
        // The path of a missing field is its parent's; name the field itself.
        let named = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|prefix| message.strip_prefix(prefix))
            .and_then(|rest| rest.split('`').next());
        let field = match named {
            Some(name) if path == "." => name.to_string(),
            Some(name) if path == name || path.ends_with(&format!(".{name}")) => path,
            Some(name) => format!("{path}.{name}"),
            None if path == "." => "body".to_string(),
            None => path,
        };
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        ApiError::invalid(field, message)
    })
}

/// Name/value pairs in the order sent (a query string or a form), for handlers that check each
/// parameter themselves.
pub struct Pairs(Vec<(String, String)>);

impl Pairs {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value sent under `name` (a group of checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &(String, String)> {
        self.0.iter()
    }

    /// A whole number from `min` to `max`; `default` when absent or empty.
    pub fn number(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(text) => match text.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid(
                    name,
                    format!("must be a whole number from {min} to {max}"),
                )),
            },
        }
    }

    /// Refuses parameters not in `known`, so a typo is not silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            Some((unknown, _)) => Err(ApiError::invalid(
                unknown.clone(),
                format!("unknown query parameter; known: {}", known.join(", ")),
            )),
            None => Ok(()),
        }
    }
}

/// The query string; invalid URL encoding is a `400` naming `query`.
pub struct QueryPairs(pub Pairs);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(|pairs| QueryPairs(Pairs(pairs)))
            .map_err(|_| ApiError::invalid("query", "the query string is not valid URL encoding"))
    }
}

impl Deref for QueryPairs {
    type Target = Pairs;

    fn deref(&self) -> &Pairs {
        &self.0
    }
}

/// A URL-encoded form body; invalid encoding or UTF-8 is a 400 page.
pub struct FormPairs(pub Pairs);

impl<S: Send + Sync> FromRequest<S> for FormPairs {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|_| PageError::BadRequest("The form is too large.".into()))?;
        serde_urlencoded::from_bytes(&body)
            .map(|pairs| FormPairs(Pairs(pairs)))
            .map_err(|_| {
                PageError::BadRequest(
                    "The form data is not valid (bad encoding or not UTF-8).".into(),
                )
            })
    }
}

impl Deref for FormPairs {
    type Target = Pairs;

    fn deref(&self) -> &Pairs {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Named {
        #[allow(dead_code)]
        name: String,
    }

    fn field_of(body: &str) -> Option<String> {
        match parse_json::<Named>(body.as_bytes()) {
            Err(ApiError::Invalid(errors)) => Some(errors.first().field.to_string()),
            _ => None,
        }
    }

    #[test]
    fn trailing_bytes_after_the_value_are_refused() {
        assert!(parse_json::<Named>(br#"{"name":"a"}"#).is_ok());
        assert!(parse_json::<Named>(b"  {\"name\":\"a\"} \r\n\t ").is_ok());
        assert_eq!(field_of(r#"{"name":"a"} xyz"#).as_deref(), Some("body"));
        assert_eq!(
            field_of(r#"{"name":"a"}{"name":"b"}"#).as_deref(),
            Some("body")
        );
        assert_eq!(field_of(r#"{"name":"a"}]"#).as_deref(), Some("body"));
    }
}
