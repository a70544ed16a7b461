//! HTML form input: URL-encoded pairs, and the key form mapped onto the API's key fields so
//! both share one validation.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use chrono::{Days, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::PageError;
use crate::domain::clients::ClientMatcher;
use crate::domain::key_fields::{KeyChanges, KeyFieldsInput};
use crate::domain::timezone::Zone;
use crate::domain::FieldError;

/// A URL-encoded form body as name/value pairs; invalid encoding or UTF-8 is a 400 page.
pub struct FormPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for FormPairs {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|_| PageError::BadRequest("The form is too large.".into()))?;
        serde_urlencoded::from_bytes(&body)
            .map(FormPairs)
            .map_err(|_| {
                PageError::BadRequest(
                    "The form data is not valid (bad encoding or not UTF-8).".into(),
                )
            })
    }
}

impl FormPairs {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_string()
    }
}

/// What the admin typed, kept to re-render the form after an error.
#[derive(Debug, Clone, Default)]
pub struct KeyFormValues {
    pub name: String,
    pub description: String,
    pub tags: String,
    pub is_active: bool,
    pub permissions: String,
    pub concurrency_limit: String,
    pub rate_limit_window: String,
    pub rate_limit_requests: String,
    pub token_limit: String,
    pub daily_cost_limit: String,
    pub enable_model_restriction: bool,
    pub restricted_models: String,
    pub enable_client_restriction: bool,
    pub allowed_clients: Vec<String>,
    /// In the order of `ACCOUNT_FIELDS`.
    pub accounts: [String; 5],
    pub expiry_preset: String,
    pub expires_on: String,
}

impl KeyFormValues {
    pub fn from_form(form: &FormPairs) -> KeyFormValues {
        let checked = |name: &str| form.get(name).is_some_and(|v| v == "true" || v == "on");
        KeyFormValues {
            name: form.text("name"),
            description: form.get("description").unwrap_or("").trim().to_string(),
            tags: form.text("tags"),
            is_active: checked("isActive"),
            permissions: form.text("permissions"),
            concurrency_limit: form.text("concurrencyLimit"),
            rate_limit_window: form.text("rateLimitWindow"),
            rate_limit_requests: form.text("rateLimitRequests"),
            token_limit: form.text("tokenLimit"),
            daily_cost_limit: form.text("dailyCostLimit"),
            enable_model_restriction: checked("enableModelRestriction"),
            restricted_models: form.get("restrictedModels").unwrap_or("").to_string(),
            enable_client_restriction: checked("enableClientRestriction"),
            allowed_clients: form.all("allowedClients"),
            accounts: crate::domain::key_fields::ACCOUNT_FIELDS.map(|f| form.text(f)),
            expiry_preset: form.text("expiryPreset"),
            expires_on: form.text("expiresOn"),
        }
    }

    /// Validates every field, collecting one message per bad field; `Ok` only when all pass.
    pub fn validate(
        &self,
        clients: &ClientMatcher,
        zone: Zone,
        creating: bool,
    ) -> Result<KeyChanges, BTreeMap<String, String>> {
        let mut errors = BTreeMap::new();
        let mut fields = Map::new();
        let number =
            |field: &str, text: &str, errors: &mut BTreeMap<String, String>| -> Option<Value> {
                if text.is_empty() {
                    return Some(Value::from(0));
                }
                match text.parse::<u64>() {
                    Ok(n) => Some(Value::from(n)),
                    Err(_) => {
                        errors.insert(
                            field.to_string(),
                            "must be a whole number, 0 or more".into(),
                        );
                        None
                    }
                }
            };
        let numbers = [
            ("concurrencyLimit", &self.concurrency_limit),
            ("rateLimitWindow", &self.rate_limit_window),
            ("rateLimitRequests", &self.rate_limit_requests),
            ("tokenLimit", &self.token_limit),
        ];
        for (field, text) in numbers {
            if let Some(value) = number(field, text, &mut errors) {
                fields.insert(field.to_string(), value);
            }
        }
        let cost = if self.daily_cost_limit.is_empty() {
            "0"
        } else {
            &self.daily_cost_limit
        };
        match cost.parse::<f64>() {
            Ok(usd) => {
                fields.insert("dailyCostLimit".into(), Value::from(usd));
            }
            Err(_) => {
                errors.insert(
                    "dailyCostLimit".into(),
                    "must be an amount in USD, like 5 or 12.50".into(),
                );
            }
        }
        fields.insert("name".into(), Value::from(self.name.clone()));
        fields.insert("description".into(), Value::from(self.description.clone()));
        fields.insert("tags".into(), Value::from(split_list(&self.tags, ',')));
        fields.insert("isActive".into(), Value::from(self.is_active));
        fields.insert("permissions".into(), Value::from(self.permissions.clone()));
        fields.insert(
            "enableModelRestriction".into(),
            Value::from(self.enable_model_restriction),
        );
        fields.insert(
            "restrictedModels".into(),
            Value::from(split_list(&self.restricted_models, '\n')),
        );
        fields.insert(
            "enableClientRestriction".into(),
            Value::from(self.enable_client_restriction),
        );
        fields.insert(
            "allowedClients".into(),
            Value::from(self.allowed_clients.clone()),
        );
        for (field, value) in crate::domain::key_fields::ACCOUNT_FIELDS
            .iter()
            .zip(&self.accounts)
        {
            fields.insert(
                field.to_string(),
                if value.is_empty() {
                    Value::Null
                } else {
                    Value::from(value.clone())
                },
            );
        }
        match self.expiry(zone) {
            Ok(Some(expiry)) => {
                fields.insert("expiresAt".into(), expiry);
            }
            Ok(None) => {}
            Err(error) => {
                errors.insert(error.field, error.message);
            }
        }
        // Each field alone first, so every bad field gets its message.
        for (field, value) in &fields {
            let single: Map<String, Value> = [(field.clone(), value.clone())].into_iter().collect();
            if let Err(error) = parse_fields(single, clients) {
                let name = if error.field == "form" {
                    field.clone()
                } else {
                    error.field
                };
                errors.entry(name).or_insert(error.message);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let changes =
            parse_fields(fields, clients).map_err(|e| BTreeMap::from([(e.field, e.message)]))?;
        let changes = if creating {
            changes
                .with_defaults()
                .map_err(|e| BTreeMap::from([(e.field, e.message)]))?
        } else {
            changes
        };
        // The form sends every field, so the rules need no stored key to compare with.
        for error in changes.check_rules(None, Utc::now()) {
            let field = match error.field.as_str() {
                "expiresAt" => "expiresOn".to_string(),
                _ => error.field,
            };
            errors.entry(field).or_insert(error.message);
        }
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(errors)
        }
    }

    /// The expiry the preset means: `None` keeps the current one (edit form only).
    fn expiry(&self, zone: Zone) -> Result<Option<Value>, FieldError> {
        let days_from_now = |days: u64| {
            let at = Utc::now()
                .checked_add_days(Days::new(days))
                .unwrap_or_else(Utc::now);
            Value::from(at.to_rfc3339())
        };
        match self.expiry_preset.as_str() {
            "keep" => Ok(None),
            "" | "never" => Ok(Some(Value::Null)),
            "1" => Ok(Some(days_from_now(1))),
            "7" => Ok(Some(days_from_now(7))),
            "30" => Ok(Some(days_from_now(30))),
            "90" => Ok(Some(days_from_now(90))),
            "date" => {
                let date = NaiveDate::parse_from_str(&self.expires_on, "%Y-%m-%d")
                    .map_err(|_| FieldError::new("expiresOn", "pick a date"))?;
                // The key works through the whole chosen day in the configured zone.
                let end = date
                    .checked_add_days(Days::new(1))
                    .and_then(|next| zone.start_of(next));
                let end = end.ok_or_else(|| FieldError::new("expiresOn", "pick a date"))?;
                Ok(Some(Value::from(end.to_rfc3339())))
            }
            _ => Err(FieldError::new(
                "expiryPreset",
                "choose one of the offered expiry options",
            )),
        }
    }
}

fn split_list(text: &str, separator: char) -> Vec<String> {
    text.split(separator)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_fields(
    fields: Map<String, Value>,
    clients: &ClientMatcher,
) -> Result<KeyChanges, FieldError> {
    let input: KeyFieldsInput = serde_json::from_value(Value::Object(fields)).map_err(|e| {
        let message = e.to_string();
        FieldError::new("form", message)
    })?;
    input.validate(clients)
}

/// The key form's fields in the order the form shows them: (field, the id of its input, label).
const FORM_FIELDS: [(&str, &str, &str); 19] = [
    ("name", "name", "Name"),
    ("tags", "tags", "Tags"),
    ("description", "description", "Description"),
    ("permissions", "permissions", "Services"),
    ("isActive", "isActive", "Active"),
    (
        "concurrencyLimit",
        "concurrencyLimit",
        "Concurrent requests",
    ),
    ("dailyCostLimit", "dailyCostLimit", "Daily cost limit (USD)"),
    (
        "rateLimitWindow",
        "rateLimitWindow",
        "Rate window (minutes)",
    ),
    (
        "rateLimitRequests",
        "rateLimitRequests",
        "Requests per window",
    ),
    ("tokenLimit", "tokenLimit", "Tokens per window"),
    ("restrictedModels", "restrictedModels", "Blocked models"),
    ("allowedClients", "allowedClients", "Allowed clients"),
    ("claudeAccountId", "claudeAccountId", "Claude account"),
    (
        "claudeConsoleAccountId",
        "claudeConsoleAccountId",
        "Claude Console account",
    ),
    ("geminiAccountId", "geminiAccountId", "Gemini account"),
    ("openaiAccountId", "openaiAccountId", "OpenAI account"),
    ("bedrockAccountId", "bedrockAccountId", "Bedrock account"),
    ("expiryPreset", "expiryPreset", "Expires"),
    ("expiresOn", "expiresOn", "Expiry date"),
];

/// The error summary of a refused key form: (the id of the bad field's input, "Label message"),
/// in form order, so each entry can link to its field. A field the form does not show still
/// gets an entry (under its own name), so no error goes unseen.
pub fn error_summary(errors: &BTreeMap<String, String>) -> Vec<(String, String)> {
    // `expiresAt` is the API's name of what the form asks as a date.
    let form_field = |field: &str| {
        if field == "expiresAt" {
            "expiresOn"
        } else {
            field
        }
        .to_string()
    };
    let text = |label: &str, message: &str| {
        // "Name is required", but "Tags: at most 20 tags".
        let reads_on = ["is ", "must ", "only "]
            .iter()
            .any(|start| message.starts_with(start));
        format!("{label}{}{message}", if reads_on { " " } else { ": " })
    };
    let mut entries = Vec::new();
    for (field, anchor, label) in FORM_FIELDS {
        for (error_field, message) in errors {
            if form_field(error_field) == field {
                entries.push((anchor.to_string(), text(label, message)));
            }
        }
    }
    for (field, message) in errors {
        let field = form_field(field);
        if !FORM_FIELDS.iter().any(|(known, _, _)| *known == field) {
            entries.push((field.clone(), text(&field, message)));
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_summary_follows_the_form_and_links_each_field() {
        let errors = BTreeMap::from([
            (
                "tokenLimit".to_string(),
                "must be a whole number".to_string(),
            ),
            ("name".to_string(), "is required".to_string()),
            ("expiresAt".to_string(), "is in the past".to_string()),
            ("tags".to_string(), "at most 20 tags".to_string()),
            ("mystery".to_string(), "is odd".to_string()),
        ]);
        let summary = error_summary(&errors);
        let anchors: Vec<&str> = summary.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            anchors,
            ["name", "tags", "tokenLimit", "expiresOn", "mystery"]
        );
        assert_eq!(summary[0].1, "Name is required");
        assert_eq!(summary[1].1, "Tags: at most 20 tags");
    }
}
