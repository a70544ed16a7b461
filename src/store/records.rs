//! How a key and its usage counters are laid out in Redis hashes, both ways.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::budgets::{
    allowed_ip_match_forms, ActivationUnit, ExpirationMode, KeyBudgets, ModelRestrictionMode,
};
use crate::domain::ids::KeyId;
use crate::domain::key::{ApiKey, UsageTotals};
use crate::domain::key_fields::{KeyChanges, Permissions, ACCOUNT_FIELDS};
use crate::domain::money::NanoUsd;
use crate::domain::pricing::normalise_model;

fn flag(value: bool) -> String {
    if value { "1" } else { "0" }.to_string()
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_string())
}

/// Fields a record leaves out while they hold their default, with the value an absent field
/// means. Every reader takes absence as exactly this (`decode_key` here, the scripts with
/// `or '0'` and the like), so a record stores only what differs from a new key's defaults.
/// `isActive` and `permissions` are always written: the verify script reads an absent one as
/// "disabled" and "no service". (`decode_key` also reads an absent `updatedAt` as `createdAt`,
/// but every write sets it: the previous release's readers require it.)
const ABSENT_MEANS: [(&str, &str); 24] = [
    ("description", ""),
    ("tokenLimit", "0"),
    ("concurrencyLimit", "0"),
    ("rateLimitWindow", "0"),
    ("rateLimitRequests", "0"),
    ("enableModelRestriction", "0"),
    ("restrictedModels", "[]"),
    ("restrictedModelsNormalised", "[]"),
    ("enableClientRestriction", "0"),
    ("allowedClients", "[]"),
    ("dailyCostLimit", "0"),
    ("totalCostLimit", "0"),
    ("weeklyCostLimit", "0"),
    ("weeklyResetDay", "1"),
    ("weeklyResetHour", "0"),
    ("monthlyCostLimit", "0"),
    ("rateLimitCost", "0"),
    ("allowedIps", "[]"),
    ("allowedIpsMatch", "[]"),
    ("modelRestrictionMode", "deny"),
    ("expirationMode", "fixed"),
    ("activationDays", "0"),
    ("activationUnit", "days"),
    ("tags", "[]"),
];

/// The record field holding the id of the audit log entry that created the key (see
/// `store::audit`); written after the record, so a key may be without it for a moment, and the
/// previous release's keys are without it for good.
pub const CREATION_AUDIT_ID: &str = "creationAuditId";

/// What an absent record field means, for the fields a record leaves out at their default.
pub fn absent_means(field: &str) -> Option<&'static str> {
    ABSENT_MEANS
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, value)| *value)
}

/// Hash fields to set and to delete for `changes`; a field set to its default is deleted
/// (see `ABSENT_MEANS`).
pub fn encode_changes(changes: &KeyChanges) -> (Vec<(&'static str, String)>, Vec<&'static str>) {
    let mut set: Vec<(&'static str, String)> = Vec::new();
    let mut delete: Vec<&'static str> = Vec::new();
    let mut put = |field: &'static str, value: Option<String>| match value {
        Some(value) if absent_means(field) == Some(value.as_str()) => delete.push(field),
        Some(value) => set.push((field, value)),
        None => {}
    };
    put("name", changes.name.clone());
    put("description", changes.description.clone());
    put("tokenLimit", changes.token_limit.map(|v| v.to_string()));
    put("permissions", changes.permissions.map(Permissions::as_text));
    put("isActive", changes.is_active.map(flag));
    put(
        "concurrencyLimit",
        changes.concurrency_limit.map(|v| v.to_string()),
    );
    put(
        "rateLimitWindow",
        changes.rate_limit_window_minutes.map(|v| v.to_string()),
    );
    put(
        "rateLimitRequests",
        changes.rate_limit_requests.map(|v| v.to_string()),
    );
    put(
        "enableModelRestriction",
        changes.enable_model_restriction.map(flag),
    );
    put(
        "restrictedModels",
        changes.restricted_models.as_deref().map(json_list),
    );
    // Hidden beside the entries as typed: their normalised forms, which the verify script
    // compares too (it cannot normalise names itself).
    put(
        "restrictedModelsNormalised",
        changes.restricted_models.as_deref().map(|models| {
            // A prefix pattern is compared as typed: normalising would cut it elsewhere.
            let normalised: Vec<String> = models
                .iter()
                .map(|m| {
                    if m.ends_with('*') {
                        m.clone()
                    } else {
                        normalise_model(m)
                    }
                })
                .collect();
            json_list(&normalised)
        }),
    );
    put(
        "enableClientRestriction",
        changes.enable_client_restriction.map(flag),
    );
    put(
        "allowedClients",
        changes.allowed_clients.as_deref().map(json_list),
    );
    put(
        "dailyCostLimit",
        changes.daily_cost_limit.map(|v| v.nanos().to_string()),
    );
    let nanos = |limit: Option<NanoUsd>| limit.map(|v| v.nanos().to_string());
    put("totalCostLimit", nanos(changes.total_cost_limit));
    put("weeklyCostLimit", nanos(changes.weekly_cost_limit));
    put(
        "weeklyResetDay",
        changes.weekly_reset_day.map(|v| v.to_string()),
    );
    put(
        "weeklyResetHour",
        changes.weekly_reset_hour.map(|v| v.to_string()),
    );
    put("monthlyCostLimit", nanos(changes.monthly_cost_limit));
    put("rateLimitCost", nanos(changes.window_cost_limit));
    put("allowedIps", changes.allowed_ips.as_deref().map(json_list));
    // Hidden beside the entries: `<32 hex digits>/<bits>`, the form the verify script matches
    // (it cannot parse addresses itself).
    put(
        "allowedIpsMatch",
        changes
            .allowed_ips
            .as_deref()
            .map(|ips| json_list(&allowed_ip_match_forms(ips))),
    );
    put(
        "modelRestrictionMode",
        changes
            .model_restriction_mode
            .map(|m| m.as_str().to_string()),
    );
    put(
        "expirationMode",
        changes
            .activation_mode
            .map(|on| if on { "activation" } else { "fixed" }.to_string()),
    );
    put(
        "activationDays",
        changes.activation_days.map(|d| d.to_string()),
    );
    put(
        "activationUnit",
        changes.activation_unit.map(|u| u.as_str().to_string()),
    );
    put("tags", changes.tags.as_deref().map(json_list));
    match changes.expires_at {
        Some(Some(at)) => set.push(("expiresAt", at.timestamp_millis().to_string())),
        Some(None) => delete.push("expiresAt"),
        None => {}
    }
    for (field, account) in ACCOUNT_FIELDS.iter().zip(&changes.accounts) {
        match account {
            Some(Some(id)) => set.push((field, id.clone())),
            Some(None) => delete.push(field),
            None => {}
        }
    }
    (set, delete)
}

pub fn time_from_ms(ms: &str) -> Option<DateTime<Utc>> {
    ms.parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
}

fn list_from_json(text: Option<&String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// A key from its hash; `None` when the hash is empty or damaged.
pub fn decode_key(id: KeyId, fields: &HashMap<String, String>) -> Option<ApiKey> {
    let text = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let number = |name: &str| {
        fields
            .get(name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let on = |name: &str| fields.get(name).is_some_and(|v| v == "1");
    let time = |name: &str| fields.get(name).and_then(|v| time_from_ms(v));
    let amount = |name: &str| {
        NanoUsd::from_nanos(fields.get(name).and_then(|v| v.parse().ok()).unwrap_or(0))
    };
    Some(ApiKey {
        id,
        name: fields.get("name")?.clone(),
        description: text("description"),
        token_limit: number("tokenLimit"),
        expires_at: time("expiresAt"),
        accounts: ACCOUNT_FIELDS.map(|f| fields.get(f).filter(|v| !v.is_empty()).cloned()),
        permissions: Permissions::parse(&text("permissions")).unwrap_or(Permissions::ALL),
        is_active: on("isActive"),
        concurrency_limit: number("concurrencyLimit"),
        rate_limit_window_minutes: number("rateLimitWindow"),
        rate_limit_requests: number("rateLimitRequests"),
        enable_model_restriction: on("enableModelRestriction"),
        restricted_models: list_from_json(fields.get("restrictedModels")),
        enable_client_restriction: on("enableClientRestriction"),
        allowed_clients: list_from_json(fields.get("allowedClients")),
        daily_cost_limit: NanoUsd::from_nanos(
            fields
                .get("dailyCostLimit")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ),
        budgets: KeyBudgets {
            total_cost_limit: amount("totalCostLimit"),
            weekly_cost_limit: amount("weeklyCostLimit"),
            weekly_reset_day: fields
                .get("weeklyResetDay")
                .and_then(|v| v.parse().ok())
                .filter(|d| (1..=7).contains(d))
                .unwrap_or(1),
            weekly_reset_hour: fields
                .get("weeklyResetHour")
                .and_then(|v| v.parse().ok())
                .filter(|h| *h <= 23)
                .unwrap_or(0),
            monthly_cost_limit: amount("monthlyCostLimit"),
            window_cost_limit: amount("rateLimitCost"),
            allowed_ips: list_from_json(fields.get("allowedIps")),
            model_mode: ModelRestrictionMode::parse(&text("modelRestrictionMode"))
                .unwrap_or_default(),
            expiration: match (text("expirationMode").as_str(), number("activationDays")) {
                ("activation", count) if count > 0 => ExpirationMode::Activation {
                    count: u32::try_from(count).unwrap_or(u32::MAX),
                    unit: ActivationUnit::parse(&text("activationUnit")).unwrap_or_default(),
                },
                _ => ExpirationMode::Fixed,
            },
            activated_at: time("activatedAt"),
        },
        tags: list_from_json(fields.get("tags")),
        created_at: time("createdAt")?,
        updated_at: match fields.get("updatedAt") {
            Some(updated) => time_from_ms(updated)?,
            None => time("createdAt")?,
        },
        last_used_at: time("lastUsedAt"),
        created_by: text("createdBy"),
        key_hint: text("keyHint"),
        deleted_at: time("deletedAt"),
        deleted_by: fields.get("deletedBy").cloned(),
        old_secret_valid_until: time("prevHashUntil"),
    })
}

/// A usage bucket's counters, in the order `usage_from_counters` takes them. `allTokens` is
/// not stored: it is the sum of the token counters, computed when read.
pub const USAGE_COUNTERS: [&str; 7] = [
    "requests",
    "inputTokens",
    "outputTokens",
    "cacheCreate5mTokens",
    "cacheCreate1hTokens",
    "cacheReadTokens",
    "cost",
];

/// Usage from the values of `USAGE_COUNTERS` (a missing or negative counter is zero).
pub fn usage_from_counters(values: [Option<i64>; 7]) -> UsageTotals {
    let [requests, input, output, create_5m, create_1h, read, cost] =
        values.map(|value| value.unwrap_or(0));
    let count = |value: i64| value.max(0) as u64;
    UsageTotals {
        requests: count(requests),
        input_tokens: count(input),
        output_tokens: count(output),
        cache_create_5m_tokens: count(create_5m),
        cache_create_1h_tokens: count(create_1h),
        cache_read_tokens: count(read),
        all_tokens: [input, output, create_5m, create_1h, read]
            .into_iter()
            .map(count)
            .sum(),
        cost: NanoUsd::from_nanos(cost),
    }
}

/// Usage counters from a bucket hash (missing counters are zero).
pub fn decode_usage(fields: &HashMap<String, String>) -> UsageTotals {
    usage_from_counters(
        USAGE_COUNTERS.map(|name| fields.get(name).and_then(|value| value.parse().ok())),
    )
}

/// Per-model counters from a hash whose fields are `<counter>|<model>`.
pub fn decode_usage_by_model(fields: &HashMap<String, String>) -> Vec<(String, UsageTotals)> {
    let mut per_model: HashMap<&str, HashMap<String, String>> = HashMap::new();
    for (field, value) in fields {
        if let Some((counter, model)) = field.split_once('|') {
            per_model
                .entry(model)
                .or_default()
                .insert(counter.to_string(), value.clone());
        }
    }
    let mut models: Vec<(String, UsageTotals)> = per_model
        .into_iter()
        .map(|(model, counters)| (model.to_string(), decode_usage(&counters)))
        .collect();
    models.sort_by(|a, b| a.0.cmp(&b.0));
    models
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_through_the_hash() {
        let changes = KeyChanges {
            name: Some("n".into()),
            ..KeyChanges::default()
        }
        .with_defaults()
        .expect("valid");
        let (set, delete) = encode_changes(&changes);
        assert!(delete.contains(&"expiresAt"));
        let mut fields: HashMap<String, String> =
            set.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        fields.insert("createdAt".into(), "1700000000000".into());
        fields.insert("updatedAt".into(), "1700000000000".into());
        let key = decode_key(KeyId::new(), &fields).expect("decodes");
        assert_eq!(key.name, "n");
        assert!(key.is_active);
        assert_eq!(key.permissions, Permissions::ALL);
    }

    #[test]
    fn a_new_keys_defaults_are_left_out_and_read_back_as_defaults() {
        let changes = KeyChanges {
            name: Some("n".into()),
            ..KeyChanges::default()
        }
        .with_defaults()
        .expect("valid");
        let (set, delete) = encode_changes(&changes);
        let stored: Vec<&str> = set.iter().map(|(field, _)| *field).collect();
        assert_eq!(stored, ["name", "permissions", "isActive"]);
        for (field, _) in ABSENT_MEANS {
            assert!(delete.contains(&field), "{field} is cleared at its default");
        }
        let mut fields: HashMap<String, String> =
            set.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        fields.insert("createdAt".into(), "1700000000000".into());
        fields.insert("updatedAt".into(), "1700000000000".into());
        let slim = decode_key(KeyId::new(), &fields).expect("decodes");
        // The same key with every default written out, as the previous release stored it.
        for (field, value) in ABSENT_MEANS {
            fields.insert(field.to_string(), value.to_string());
        }
        let full = decode_key(slim.id, &fields).expect("decodes");
        assert_eq!(slim, full);
    }

    #[test]
    fn a_key_never_changed_was_last_updated_when_created() {
        let mut fields: HashMap<String, String> = [
            ("name", "n"),
            ("permissions", "all"),
            ("isActive", "1"),
            ("createdAt", "1700000000000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let new = decode_key(KeyId::new(), &fields).expect("decodes");
        assert_eq!(new.updated_at, new.created_at);
        fields.insert("updatedAt".into(), "1700000005000".into());
        let changed = decode_key(new.id, &fields).expect("decodes");
        assert_eq!(changed.updated_at.timestamp_millis(), 1_700_000_005_000);
        fields.insert("updatedAt".into(), "damaged".into());
        assert_eq!(decode_key(new.id, &fields), None);
    }

    #[test]
    fn per_model_fields_split_at_the_first_bar() {
        let fields: HashMap<String, String> = [
            (
                "requests|anthropic.claude-x-v1:0".to_string(),
                "2".to_string(),
            ),
            ("cost|anthropic.claude-x-v1:0".to_string(), "7".to_string()),
            ("requests|m2".to_string(), "1".to_string()),
        ]
        .into();
        let models = decode_usage_by_model(&fields);
        assert_eq!(models.len(), 2);
        assert_eq!(models[0].0, "anthropic.claude-x-v1:0");
        assert_eq!(models[0].1.requests, 2);
        assert_eq!(models[0].1.cost, NanoUsd::from_nanos(7));
    }
}
