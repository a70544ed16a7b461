//! The key form: what the admin typed (kept to show the form again) read straight into typed
//! key fields, with every bad field's message at once.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::domain::budgets::{ActivationUnit, ExpirationMode, ModelRestrictionMode};
use crate::domain::clients::ClientMatcher;
use crate::domain::key::ApiKey;
use crate::domain::key_fields::{
    KeyChanges, KeyFieldsInput, Patch, Permissions, ACCOUNT_COUNT, ACCOUNT_FIELDS,
};
use crate::domain::timezone::Zone;
use crate::domain::FieldError;
use crate::web::extract::FormPairs;

/// Each bad field's message, by the form's field name (the templates show it beside the field).
pub type FormErrors = BTreeMap<String, String>;

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
    pub accounts: [String; ACCOUNT_COUNT],
    pub expiry_preset: String,
    pub expires_on: String,
    /// With the `activation` preset: how long the key lasts from its first use.
    pub activation_days: String,
    pub activation_unit: String,
    /// Budgets beyond the daily one (USD as typed; empty = none), the weekly reset, the
    /// address allow-list (one per line) and the model list's mode.
    pub total_cost_limit: String,
    pub weekly_cost_limit: String,
    pub weekly_reset_day: String,
    pub weekly_reset_hour: String,
    pub monthly_cost_limit: String,
    pub rate_limit_cost: String,
    pub allowed_ips: String,
    pub model_restriction_mode: String,
}

impl KeyFormValues {
    /// The new-key form's starting values.
    pub fn for_new_key() -> KeyFormValues {
        KeyFormValues {
            is_active: true,
            permissions: Permissions::ALL.as_text(),
            expiry_preset: "never".into(),
            activation_unit: ActivationUnit::Days.as_str().into(),
            weekly_reset_day: "1".into(),
            weekly_reset_hour: "0".into(),
            model_restriction_mode: "deny".into(),
            ..KeyFormValues::default()
        }
    }

    /// The edit form's starting values: the key as it is (limits of 0 shown empty).
    pub fn of(key: &ApiKey) -> KeyFormValues {
        let number = |n: u64| if n == 0 { String::new() } else { n.to_string() };
        KeyFormValues {
            name: key.name.clone(),
            description: key.description.clone(),
            tags: key.tags.join(", "),
            is_active: key.is_active,
            permissions: key.permissions.as_text(),
            concurrency_limit: number(key.concurrency_limit),
            rate_limit_window: number(key.rate_limit_window_minutes),
            rate_limit_requests: number(key.rate_limit_requests),
            token_limit: number(key.token_limit),
            daily_cost_limit: if key.daily_cost_limit.nanos() == 0 {
                String::new()
            } else {
                key.daily_cost_limit.to_string()
            },
            enable_model_restriction: key.enable_model_restriction,
            restricted_models: key.restricted_models.join("\n"),
            enable_client_restriction: key.enable_client_restriction,
            allowed_clients: key.allowed_clients.clone(),
            accounts: key.accounts.clone().map(Option::unwrap_or_default),
            expiry_preset: "keep".into(),
            expires_on: String::new(),
            activation_days: match key.budgets.expiration {
                ExpirationMode::Activation { count, .. } => count.to_string(),
                ExpirationMode::Fixed => String::new(),
            },
            activation_unit: match key.budgets.expiration {
                ExpirationMode::Activation { unit, .. } => unit,
                ExpirationMode::Fixed => ActivationUnit::Days,
            }
            .as_str()
            .into(),
            total_cost_limit: usd_text(key.budgets.total_cost_limit),
            weekly_cost_limit: usd_text(key.budgets.weekly_cost_limit),
            weekly_reset_day: key.budgets.weekly_reset_day.to_string(),
            weekly_reset_hour: key.budgets.weekly_reset_hour.to_string(),
            monthly_cost_limit: usd_text(key.budgets.monthly_cost_limit),
            rate_limit_cost: usd_text(key.budgets.window_cost_limit),
            allowed_ips: key.budgets.allowed_ips.join("\n"),
            model_restriction_mode: key.budgets.model_mode.as_str().into(),
        }
    }

    pub fn from_form(form: &FormPairs) -> KeyFormValues {
        let text = |name: &str| form.get(name).unwrap_or("").trim().to_string();
        let checked = |name: &str| form.get(name).is_some_and(|v| v == "true" || v == "on");
        KeyFormValues {
            name: text("name"),
            description: text("description"),
            tags: text("tags"),
            is_active: checked("isActive"),
            permissions: text("permissions"),
            concurrency_limit: text("concurrencyLimit"),
            rate_limit_window: text("rateLimitWindow"),
            rate_limit_requests: text("rateLimitRequests"),
            token_limit: text("tokenLimit"),
            daily_cost_limit: text("dailyCostLimit"),
            enable_model_restriction: checked("enableModelRestriction"),
            restricted_models: form.get("restrictedModels").unwrap_or("").to_string(),
            enable_client_restriction: checked("enableClientRestriction"),
            allowed_clients: form.all("allowedClients"),
            accounts: ACCOUNT_FIELDS.map(text),
            total_cost_limit: text("totalCostLimit"),
            weekly_cost_limit: text("weeklyCostLimit"),
            weekly_reset_day: text("weeklyResetDay"),
            weekly_reset_hour: text("weeklyResetHour"),
            monthly_cost_limit: text("monthlyCostLimit"),
            rate_limit_cost: text("rateLimitCost"),
            allowed_ips: form.get("allowedIps").unwrap_or("").to_string(),
            model_restriction_mode: text("modelRestrictionMode"),
            expiry_preset: text("expiryPreset"),
            expires_on: text("expiresOn"),
            activation_days: text("activationDays"),
            activation_unit: text("activationUnit"),
        }
    }

    /// The changes the form asks for: every field is sent, so every setting is set (the expiry
    /// only when a preset other than "keep" is chosen). `Err` names each bad field. The rules
    /// across fields are the service's to check.
    pub fn changes(
        &self,
        clients: &ClientMatcher,
        zone: Zone,
        now: DateTime<Utc>,
    ) -> Result<KeyChanges, FormErrors> {
        let mut errors = Vec::new();
        let [claude, claude_console, gemini, openai, bedrock, azure_openai, droid] =
            self.accounts.clone().map(|id| {
                if id.is_empty() {
                    Patch::Null
                } else {
                    Patch::Value(id)
                }
            });
        let mut input = KeyFieldsInput {
            name: Patch::Value(self.name.clone()),
            description: Patch::Value(self.description.clone()),
            token_limit: whole_number("tokenLimit", &self.token_limit, &mut errors),
            // Set below, from the preset.
            expires_at: Patch::Absent,
            claude_account_id: claude,
            claude_console_account_id: claude_console,
            gemini_account_id: gemini,
            openai_account_id: openai,
            bedrock_account_id: bedrock,
            azure_openai_account_id: azure_openai,
            droid_account_id: droid,
            // The form always sends a choice: an empty one is a broken form, not "all".
            permissions: match Some(self.permissions.trim())
                .filter(|p| !p.is_empty())
                .and_then(Permissions::parse)
            {
                Some(permissions) => Patch::Value(permissions),
                None => {
                    errors.push(FieldError::new(
                        "permissions",
                        "must be all, claude, gemini, openai or droid",
                    ));
                    Patch::Absent
                }
            },
            is_active: Patch::Value(self.is_active),
            concurrency_limit: whole_number(
                "concurrencyLimit",
                &self.concurrency_limit,
                &mut errors,
            ),
            rate_limit_window: whole_number(
                "rateLimitWindow",
                &self.rate_limit_window,
                &mut errors,
            ),
            rate_limit_requests: whole_number(
                "rateLimitRequests",
                &self.rate_limit_requests,
                &mut errors,
            ),
            enable_model_restriction: Patch::Value(self.enable_model_restriction),
            restricted_models: Patch::Value(split_list(&self.restricted_models, '\n')),
            enable_client_restriction: Patch::Value(self.enable_client_restriction),
            allowed_clients: Patch::Value(self.allowed_clients.clone()),
            daily_cost_limit: match self.daily_cost_limit.as_str() {
                "" => Patch::Value(0.0),
                text => match text.parse::<f64>() {
                    Ok(usd) => Patch::Value(usd),
                    Err(_) => {
                        errors.push(FieldError::new(
                            "dailyCostLimit",
                            "must be an amount in USD, like 5 or 12.50",
                        ));
                        Patch::Absent
                    }
                },
            },
            tags: Patch::Value(split_list(&self.tags, ',')),
            total_cost_limit: usd_limit("totalCostLimit", &self.total_cost_limit, &mut errors),
            weekly_cost_limit: usd_limit("weeklyCostLimit", &self.weekly_cost_limit, &mut errors),
            weekly_reset_day: small_number(
                "weeklyResetDay",
                &self.weekly_reset_day,
                1,
                &mut errors,
            ),
            weekly_reset_hour: small_number(
                "weeklyResetHour",
                &self.weekly_reset_hour,
                0,
                &mut errors,
            ),
            monthly_cost_limit: usd_limit(
                "monthlyCostLimit",
                &self.monthly_cost_limit,
                &mut errors,
            ),
            rate_limit_cost: usd_limit("rateLimitCost", &self.rate_limit_cost, &mut errors),
            allowed_ips: Patch::Value(split_list(&self.allowed_ips, '\n')),
            // An older form without the choice means the list blocks (as before).
            model_restriction_mode: match Some(self.model_restriction_mode.as_str())
                .filter(|m| !m.is_empty())
                .map_or(
                    Some(ModelRestrictionMode::Deny),
                    ModelRestrictionMode::parse,
                ) {
                Some(mode) => Patch::Value(mode),
                None => {
                    errors.push(FieldError::new(
                        "modelRestrictionMode",
                        "must be deny or allow",
                    ));
                    Patch::Absent
                }
            },
            // Set below, from the preset.
            expiration_mode: Patch::Absent,
            activation_days: Patch::Absent,
            activation_unit: Patch::Absent,
        };
        match self.expiry_preset.as_str() {
            // "keep" leaves the mode (and an activation key's duration) as it is.
            "keep" => {}
            "activation" => {
                input.expiration_mode = Patch::Value("activation".into());
                input.activation_days = match self.activation_days.parse::<u32>() {
                    Ok(days) => Patch::Value(days),
                    Err(_) if self.activation_days.is_empty() => Patch::Value(0),
                    Err(_) => {
                        errors.push(FieldError::new(
                            "activationDays",
                            "must be a whole number, like 30",
                        ));
                        Patch::Absent
                    }
                };
                input.activation_unit = match ActivationUnit::parse(&self.activation_unit) {
                    Some(unit) => Patch::Value(unit),
                    None => {
                        errors.push(FieldError::new("activationUnit", "choose days or hours"));
                        Patch::Absent
                    }
                };
            }
            // Any dated preset (or never) is a fixed expiry: a key in activation mode leaves it.
            _ => {
                input.expiration_mode = Patch::Value("fixed".into());
                input.activation_days = Patch::Null;
            }
        }
        let expires_at = self.expiry(zone, now).unwrap_or_else(|error| {
            errors.push(error);
            None
        });
        let mut changes = match input.validate(clients) {
            Ok(changes) => changes,
            Err(invalid) => {
                errors.extend(invalid);
                KeyChanges::default()
            }
        };
        if !errors.is_empty() {
            return Err(form_errors(errors));
        }
        changes.expires_at = expires_at;
        Ok(changes)
    }

    /// The expiry the preset means: `None` keeps the current one (edit form only).
    fn expiry(
        &self,
        zone: Zone,
        now: DateTime<Utc>,
    ) -> Result<Option<Option<DateTime<Utc>>>, FieldError> {
        let days_from_now = |days: u64| Some(now.checked_add_days(Days::new(days)).or(Some(now)));
        match self.expiry_preset.as_str() {
            "keep" => Ok(None),
            // Activation mode: no expiry until the first use sets it.
            "" | "never" | "activation" => Ok(Some(None)),
            "1" => Ok(days_from_now(1)),
            "7" => Ok(days_from_now(7)),
            "30" => Ok(days_from_now(30)),
            "90" => Ok(days_from_now(90)),
            "date" => {
                let pick_a_date = || FieldError::new("expiresOn", "pick a date");
                let date = NaiveDate::parse_from_str(&self.expires_on, "%Y-%m-%d")
                    .map_err(|_| pick_a_date())?;
                // The key works through the whole chosen day in the configured zone.
                let end = date
                    .checked_add_days(Days::new(1))
                    .and_then(|next| zone.start_of(next))
                    .ok_or_else(pick_a_date)?;
                Ok(Some(Some(end)))
            }
            _ => Err(FieldError::new(
                "expiryPreset",
                "choose one of the offered expiry options",
            )),
        }
    }
}

/// Field errors by the form's field names: the form sets `expiresAt` through `expiresOn`. The
/// first message for a field is kept.
pub fn form_errors(errors: impl IntoIterator<Item = FieldError>) -> FormErrors {
    let mut by_field = FormErrors::new();
    for error in errors {
        let field = match error.field.as_str() {
            "expiresAt" => "expiresOn".to_string(),
            _ => error.field,
        };
        by_field.entry(field).or_insert(error.message);
    }
    by_field
}

/// A limit typed as text: empty is 0 (no limit); anything but a whole number is an error, and
/// the field is left out of the changes.
fn whole_number(field: &'static str, text: &str, errors: &mut Vec<FieldError>) -> Patch<u64> {
    if text.is_empty() {
        return Patch::Value(0);
    }
    match text.parse::<u64>() {
        Ok(n) => Patch::Value(n),
        Err(_) => {
            errors.push(FieldError::new(field, "must be a whole number, 0 or more"));
            Patch::Absent
        }
    }
}

/// A budget typed as USD: empty is 0 (none).
fn usd_limit(field: &'static str, text: &str, errors: &mut Vec<FieldError>) -> Patch<f64> {
    if text.is_empty() {
        return Patch::Value(0.0);
    }
    match text.trim_start_matches('$').parse::<f64>() {
        Ok(usd) => Patch::Value(usd),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "must be an amount in USD, like 5 or 12.50",
            ));
            Patch::Absent
        }
    }
}

/// A day or hour from a select: empty is `default`.
fn small_number(
    field: &'static str,
    text: &str,
    default: u8,
    errors: &mut Vec<FieldError>,
) -> Patch<u8> {
    if text.is_empty() {
        return Patch::Value(default);
    }
    match text.parse::<u8>() {
        Ok(n) => Patch::Value(n),
        Err(_) => {
            errors.push(FieldError::new(field, "choose one of the offered values"));
            Patch::Absent
        }
    }
}

/// A stored budget as the form shows it (empty for none).
fn usd_text(limit: crate::domain::money::NanoUsd) -> String {
    if limit.nanos() == 0 {
        String::new()
    } else {
        limit.to_string()
    }
}

fn split_list(text: &str, separator: char) -> Vec<String> {
    text.split(separator)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The key form's fields in the order the form shows them: (field, which is also the id of its
/// input, label).
const FORM_FIELDS: [(&str, &str); 31] = [
    ("name", "Name"),
    ("tags", "Tags"),
    ("description", "Description"),
    ("permissions", "Services"),
    ("isActive", "Active"),
    ("concurrencyLimit", "Concurrent requests"),
    ("dailyCostLimit", "Daily cost limit (USD)"),
    ("rateLimitWindow", "Rate window (minutes)"),
    ("rateLimitRequests", "Requests per window"),
    ("tokenLimit", "Tokens per window"),
    ("rateLimitCost", "Cost per window (USD)"),
    ("weeklyCostLimit", "Weekly cost limit (USD)"),
    ("weeklyResetDay", "Week starts on"),
    ("weeklyResetHour", "Week starts at hour"),
    ("monthlyCostLimit", "Monthly cost limit (USD)"),
    ("totalCostLimit", "Total cost limit (USD)"),
    ("modelRestrictionMode", "Model list"),
    ("restrictedModels", "Blocked models"),
    ("allowedClients", "Allowed clients"),
    ("allowedIps", "Allowed addresses"),
    ("claudeAccountId", "Claude account"),
    ("claudeConsoleAccountId", "Claude Console account"),
    ("geminiAccountId", "Gemini account"),
    ("openaiAccountId", "OpenAI account"),
    ("bedrockAccountId", "Bedrock account"),
    ("azureOpenaiAccountId", "Azure OpenAI account"),
    ("droidAccountId", "Droid account"),
    ("expiryPreset", "Expires"),
    ("expiresOn", "Expiry date"),
    ("activationDays", "Lasts from first use"),
    ("activationUnit", "Unit"),
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
    for (field, label) in FORM_FIELDS {
        for (error_field, message) in errors {
            if form_field(error_field) == field {
                entries.push((field.to_string(), text(label, message)));
            }
        }
    }
    for (field, message) in errors {
        let field = form_field(field);
        if !FORM_FIELDS.iter().any(|(known, _)| *known == field) {
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
