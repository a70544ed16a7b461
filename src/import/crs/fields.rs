//! Parsing one `apikey:<id>` hash into a [`CrsKey`], field by field, without I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::values::{
    parse_bool, parse_count, parse_instant, parse_money, parse_string_list, shorten,
};
use super::{
    ActivationUnit, CrsBindings, CrsExpiry, CrsKey, CrsLifecycleEvent, CrsLimits, CrsRelaySettings,
    ExpirationMode, FieldProblem, CRS_SERVICES,
};
use crate::domain::money::NanoUsd;

/// Every field CRS 1.1.314 writes into `apikey:<id>`.
const KNOWN_FIELDS: [&str; 53] = [
    "id",
    "name",
    "description",
    "apiKey",
    "tokenLimit",
    "concurrencyLimit",
    "rateLimitWindow",
    "rateLimitRequests",
    "rateLimitCost",
    "isActive",
    "claudeAccountId",
    "claudeConsoleAccountId",
    "geminiAccountId",
    "openaiAccountId",
    "azureOpenaiAccountId",
    "bedrockAccountId",
    "droidAccountId",
    "ccrAccountId",
    "permissions",
    "enableModelRestriction",
    "restrictedModels",
    "enableClientRestriction",
    "allowedClients",
    "dailyCostLimit",
    "totalCostLimit",
    "weeklyOpusCostLimit",
    "tags",
    "activationDays",
    "activationUnit",
    "expirationMode",
    "isActivated",
    "activatedAt",
    "createdAt",
    "updatedAt",
    "lastUsedAt",
    "expiresAt",
    "createdBy",
    "userId",
    "userUsername",
    "icon",
    "serviceRates",
    "weeklyResetDay",
    "weeklyResetHour",
    "enableOpenAIResponsesCodexAdaptation",
    "enableOpenAIResponsesPayloadRules",
    "openaiResponsesPayloadRules",
    "isDeleted",
    "deletedAt",
    "deletedBy",
    "deletedByType",
    "restoredAt",
    "restoredBy",
    "restoredByType",
];

/// Reads the fields of one hash, remembering which ones it could not read.
struct Fields<'a> {
    hash: &'a HashMap<String, String>,
    problems: Vec<FieldProblem>,
}

impl<'a> Fields<'a> {
    /// The field's text; absent reads as `""`, as in CRS.
    fn text(&self, field: &str) -> &'a str {
        self.hash.get(field).map(String::as_str).unwrap_or("")
    }

    fn problem(&mut self, field: &str, message: String) {
        self.problems.push(FieldProblem::new(field, message));
    }

    /// `""` reads as `default` (CRS writes `""` when an update sets a limit to null).
    fn parsed<T>(
        &mut self,
        field: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        let text = self.text(field);
        if text.is_empty() {
            return default;
        }
        match parse(text) {
            Ok(value) => value,
            Err(message) => {
                self.problem(field, message);
                default
            }
        }
    }

    fn count(&mut self, field: &str) -> u64 {
        self.parsed(field, 0, parse_count)
    }

    fn money(&mut self, field: &str) -> NanoUsd {
        self.parsed(field, NanoUsd::ZERO, parse_money)
    }

    fn boolean(&mut self, field: &str, default: bool) -> bool {
        self.parsed(field, default, parse_bool)
    }

    fn instant(&mut self, field: &str) -> Option<DateTime<Utc>> {
        self.parsed(field, None, |text| parse_instant(text).map(Some))
    }

    fn list(&mut self, field: &str) -> Vec<String> {
        self.parsed(field, Vec::new(), parse_string_list)
    }

    fn optional(&self, field: &str) -> Option<String> {
        let text = self.text(field);
        (!text.is_empty()).then(|| text.to_string())
    }

    /// A whole number within `range`, else `default`.
    fn bounded(&mut self, field: &str, range: std::ops::RangeInclusive<u32>, default: u32) -> u32 {
        self.parsed(field, default, |text| {
            let value = parse_count(text)?;
            u32::try_from(value)
                .ok()
                .filter(|v| range.contains(v))
                .ok_or_else(|| format!("`{value}` is outside {}–{}", range.start(), range.end()))
        })
    }
}

/// CRS's `normalizePermissions`: a JSON list (current), `all` or `""` (every service), one
/// service name (before 1.1.2xx), or a comma-separated list (data broken by an old bug). An
/// empty result means every service. Names outside [`CRS_SERVICES`] are refused.
pub fn parse_permissions(text: &str) -> Result<Vec<String>, String> {
    let services: Vec<String> = if text.starts_with('[') {
        parse_string_list(text)?
    } else if text.is_empty() || text == "all" {
        Vec::new()
    } else {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    if let Some(unknown) = services
        .iter()
        .find(|s| !CRS_SERVICES.contains(&s.as_str()))
    {
        return Err(format!(
            "`{}` is not a service ({})",
            shorten(unknown),
            CRS_SERVICES.join(", ")
        ));
    }
    Ok(services)
}

/// Parses the hash of `apikey:<id>`. `in_hash_map`: whether CRS's hash lookup knows this key.
pub fn parse_key(id: &str, hash: &HashMap<String, String>, in_hash_map: bool) -> CrsKey {
    let mut fields = Fields {
        hash,
        problems: Vec::new(),
    };

    let stored_id = fields.text("id");
    if !stored_id.is_empty() && stored_id != id {
        fields.problem(
            "id",
            format!("`{}` differs from the key name", shorten(stored_id)),
        );
    }
    let hashed_key = match fields.text("apiKey") {
        hash if hash.len() == 64
            && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Some(hash.to_string())
        }
        // The value is a secret's hash: named, not shown.
        "" => {
            fields.problem(
                "apiKey",
                "missing: the key's secret cannot be verified".into(),
            );
            None
        }
        _ => {
            fields.problem("apiKey", "not a 64-character sha256 hex hash".into());
            None
        }
    };

    let limits = CrsLimits {
        token_limit: fields.count("tokenLimit"),
        concurrency_limit: fields.count("concurrencyLimit"),
        rate_limit_window_minutes: fields.count("rateLimitWindow"),
        rate_limit_requests: fields.count("rateLimitRequests"),
        rate_limit_cost: fields.money("rateLimitCost"),
        daily_cost_limit: fields.money("dailyCostLimit"),
        total_cost_limit: fields.money("totalCostLimit"),
        weekly_opus_cost_limit: fields.money("weeklyOpusCostLimit"),
        weekly_reset_day: fields.bounded("weeklyResetDay", 1..=7, 1),
        weekly_reset_hour: fields.bounded("weeklyResetHour", 0..=23, 0),
    };

    let permissions = {
        let text = fields.text("permissions");
        match parse_permissions(text) {
            Ok(services) => services,
            Err(message) => {
                fields.problem("permissions", message);
                // Kept as stored: dropping names from an allow-list could empty it, and empty
                // means every service.
                parse_string_list(text).unwrap_or_else(|_| vec![text.to_string()])
            }
        }
    };

    let bindings = CrsBindings {
        claude_account_id: fields.optional("claudeAccountId"),
        claude_console_account_id: fields.optional("claudeConsoleAccountId"),
        gemini_account_id: fields.optional("geminiAccountId"),
        openai_account_id: fields.optional("openaiAccountId"),
        azure_openai_account_id: fields.optional("azureOpenaiAccountId"),
        bedrock_account_id: fields.optional("bedrockAccountId"),
        droid_account_id: fields.optional("droidAccountId"),
        ccr_account_id: fields.optional("ccrAccountId"),
    };

    let mode = fields.parsed("expirationMode", ExpirationMode::Fixed, |text| match text {
        "fixed" => Ok(ExpirationMode::Fixed),
        "activation" => Ok(ExpirationMode::Activation),
        other => Err(format!(
            "`{}` is neither fixed nor activation",
            shorten(other)
        )),
    });
    let expiry = CrsExpiry {
        mode,
        expires_at: fields.instant("expiresAt"),
        activation_days: fields.count("activationDays"),
        activation_unit: fields.parsed("activationUnit", ActivationUnit::Days, |text| match text {
            "days" => Ok(ActivationUnit::Days),
            "hours" => Ok(ActivationUnit::Hours),
            other => Err(format!("`{}` is neither days nor hours", shorten(other))),
        }),
        // CRS: `isActivated === 'true'`; a fixed key is created activated.
        is_activated: fields.boolean("isActivated", false),
        activated_at: fields.instant("activatedAt"),
    };

    let is_deleted = fields.boolean("isDeleted", false);
    let deleted = is_deleted.then(|| CrsLifecycleEvent {
        at: fields.instant("deletedAt"),
        by: fields.text("deletedBy").to_string(),
        by_type: fields.text("deletedByType").to_string(),
    });
    let restored_at = fields.instant("restoredAt");
    let restored = (restored_at.is_some() || !fields.text("restoredBy").is_empty()).then(|| {
        CrsLifecycleEvent {
            at: restored_at,
            by: fields.text("restoredBy").to_string(),
            by_type: fields.text("restoredByType").to_string(),
        }
    });

    let service_rates =
        fields.parsed(
            "serviceRates",
            BTreeMap::new(),
            |text| match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(rates)) => rates
                    .into_iter()
                    .map(|(service, rate)| match rate {
                        serde_json::Value::Number(n) => Ok((service, n)),
                        other => Err(format!(
                            "the rate of `{}` is `{}`, not a number",
                            shorten(&service),
                            shorten(&other.to_string())
                        )),
                    })
                    .collect(),
                _ => Err(format!("`{}` is not a JSON object", shorten(text))),
            },
        );
    let payload_rules =
        fields.parsed(
            "openaiResponsesPayloadRules",
            Vec::new(),
            |text| match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Array(rules)) => Ok(rules),
                _ => Err(format!("`{}` is not a JSON list", shorten(text))),
            },
        );
    let icon = fields.text("icon").to_string();
    let relay_settings = CrsRelaySettings {
        has_icon: !icon.is_empty(),
        icon,
        service_rates,
        enable_openai_responses_codex_adaptation: fields
            .boolean("enableOpenAIResponsesCodexAdaptation", true),
        enable_openai_responses_payload_rules: fields
            .boolean("enableOpenAIResponsesPayloadRules", false),
        openai_responses_payload_rules: payload_rules,
    };

    let key = CrsKey {
        id: id.to_string(),
        hashed_key,
        name: fields.text("name").to_string(),
        description: fields.text("description").to_string(),
        is_active: fields.boolean("isActive", false),
        limits,
        permissions,
        enable_model_restriction: fields.boolean("enableModelRestriction", false),
        restricted_models: fields.list("restrictedModels"),
        enable_client_restriction: fields.boolean("enableClientRestriction", false),
        allowed_clients: fields.list("allowedClients"),
        bindings,
        tags: fields.list("tags"),
        expiry,
        created_at: fields.instant("createdAt"),
        updated_at: fields.instant("updatedAt"),
        last_used_at: fields.instant("lastUsedAt"),
        created_by: fields.text("createdBy").to_string(),
        user_id: fields.text("userId").to_string(),
        user_username: fields.text("userUsername").to_string(),
        deleted,
        restored,
        relay_settings,
        in_hash_map,
        field_problems: Vec::new(),
        unknown_fields: Vec::new(),
    };
    let unknown_fields: BTreeSet<String> = hash
        .keys()
        .filter(|field| !KNOWN_FIELDS.contains(&field.as_str()))
        .cloned()
        .collect();
    CrsKey {
        field_problems: fields.problems,
        unknown_fields: unknown_fields.into_iter().collect(),
        ..key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::crs::CrsKeyStatus;

    const ID: &str = "8fc5b6a2-447c-48ac-a245-b972be1377c5";
    const HASH: &str = "870aa3a03d5b2fb9861b5cdd0ce2106264c3fcad6bbe61fb6fde8a60015073bd";

    fn hash(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("valid")
            .with_timezone(&Utc)
    }

    /// The hash CRS 1.1.314 wrote for a key created with every field set (copied from
    /// `HGETALL` after its `generateApiKey` and one usage record).
    fn full_key_as_crs_wrote_it() -> HashMap<String, String> {
        hash(&[
            ("serviceRates", r#"{"claude":1.5,"codex":0.8}"#),
            ("userUsername", "alice"),
            ("dailyCostLimit", "12.5"),
            ("isActive", "true"),
            ("createdAt", "2026-10-13T09:00:00.001Z"),
            ("droidAccountId", "group:droid-group-1"),
            ("activatedAt", "2026-10-13T09:00:00.001Z"),
            ("azureOpenaiAccountId", "azure-acc-1"),
            ("enableClientRestriction", "true"),
            ("icon", "data:image/png;base64,iVBORw0KGgo="),
            ("rateLimitCost", "2.5"),
            ("bedrockAccountId", "bedrock-acc-1"),
            ("weeklyResetDay", "3"),
            ("enableOpenAIResponsesCodexAdaptation", "false"),
            ("tokenLimit", "50000"),
            ("claudeConsoleAccountId", "console-acc-1"),
            ("expirationMode", "fixed"),
            ("activationUnit", "days"),
            ("userId", "user-1"),
            ("concurrencyLimit", "3"),
            ("enableOpenAIResponsesPayloadRules", "true"),
            ("geminiAccountId", "api:gemini-api-1"),
            ("allowedClients", r#"["claude_code","gemini_cli"]"#),
            ("weeklyOpusCostLimit", "40"),
            ("weeklyResetHour", "6"),
            ("openaiAccountId", "responses:openai-resp-1"),
            ("description", "every field set"),
            ("rateLimitRequests", "100"),
            ("id", ID),
            ("enableModelRestriction", "true"),
            (
                "restrictedModels",
                r#"["claude-opus-4-1-20250805","gpt-5"]"#,
            ),
            ("isActivated", "true"),
            ("lastUsedAt", "2026-11-27T18:46:59.285Z"),
            ("apiKey", HASH),
            ("rateLimitWindow", "60"),
            ("claudeAccountId", "claude-acc-1"),
            ("tags", r#"["team-a","prod"]"#),
            ("name", "full"),
            ("activationDays", "0"),
            ("permissions", r#"["claude","openai"]"#),
            ("createdBy", "alice"),
            ("expiresAt", "2026-12-27T00:00:00.000Z"),
            (
                "openaiResponsesPayloadRules",
                r#"[{"path":"reasoning.effort","valueType":"string","value":"high"}]"#,
            ),
            ("totalCostLimit", "300"),
        ])
    }

    #[test]
    fn every_field_crs_writes_is_read() {
        let key = parse_key(ID, &full_key_as_crs_wrote_it(), true);
        assert_eq!(key.field_problems, vec![]);
        assert_eq!(key.unknown_fields, Vec::<String>::new());
        assert_eq!(key.hashed_key.as_deref(), Some(HASH));
        assert_eq!(key.name, "full");
        assert_eq!(key.description, "every field set");
        assert!(key.is_active);
        assert_eq!(
            key.limits,
            CrsLimits {
                token_limit: 50_000,
                concurrency_limit: 3,
                rate_limit_window_minutes: 60,
                rate_limit_requests: 100,
                rate_limit_cost: NanoUsd::from_nanos(2_500_000_000),
                daily_cost_limit: NanoUsd::from_nanos(12_500_000_000),
                total_cost_limit: NanoUsd::from_nanos(300_000_000_000),
                weekly_opus_cost_limit: NanoUsd::from_nanos(40_000_000_000),
                weekly_reset_day: 3,
                weekly_reset_hour: 6,
            }
        );
        assert_eq!(key.permissions, vec!["claude", "openai"]);
        assert!(key.enable_model_restriction && key.enable_client_restriction);
        assert_eq!(
            key.restricted_models,
            vec!["claude-opus-4-1-20250805", "gpt-5"]
        );
        assert_eq!(key.allowed_clients, vec!["claude_code", "gemini_cli"]);
        assert_eq!(
            key.bindings.set(),
            vec![
                ("claudeAccountId", "claude-acc-1"),
                ("claudeConsoleAccountId", "console-acc-1"),
                ("geminiAccountId", "api:gemini-api-1"),
                ("openaiAccountId", "responses:openai-resp-1"),
                ("azureOpenaiAccountId", "azure-acc-1"),
                ("bedrockAccountId", "bedrock-acc-1"),
                ("droidAccountId", "group:droid-group-1"),
            ]
        );
        assert_eq!(key.tags, vec!["team-a", "prod"]);
        assert_eq!(
            key.expiry,
            CrsExpiry {
                mode: ExpirationMode::Fixed,
                expires_at: Some(at("2026-12-27T00:00:00Z")),
                activation_days: 0,
                activation_unit: ActivationUnit::Days,
                is_activated: true,
                activated_at: Some(at("2026-10-13T09:00:00.001Z")),
            }
        );
        assert_eq!(key.created_at, Some(at("2026-10-13T09:00:00.001Z")));
        assert_eq!(key.last_used_at, Some(at("2026-11-27T18:46:59.285Z")));
        assert_eq!(key.updated_at, None);
        assert_eq!(
            (key.created_by.as_str(), key.user_id.as_str()),
            ("alice", "user-1")
        );
        assert_eq!(key.deleted, None);
        assert!(key.relay_settings.has_icon);
        assert_eq!(key.relay_settings.service_rates.len(), 2);
        assert!(!key.relay_settings.enable_openai_responses_codex_adaptation);
        assert!(key.relay_settings.enable_openai_responses_payload_rules);
        assert_eq!(key.relay_settings.openai_responses_payload_rules.len(), 1);
        assert_eq!(key.status(at("2026-11-27T00:00:00Z")), CrsKeyStatus::Active);
        assert_eq!(
            key.status(at("2026-12-28T00:00:00Z")),
            CrsKeyStatus::Expired
        );
    }

    #[test]
    fn a_default_key_reads_as_no_limits() {
        // generateApiKey with a name only.
        let key = parse_key(
            ID,
            &hash(&[
                ("id", ID),
                ("name", "plain"),
                ("description", ""),
                ("apiKey", HASH),
                ("tokenLimit", "0"),
                ("concurrencyLimit", "0"),
                ("rateLimitWindow", "0"),
                ("rateLimitRequests", "0"),
                ("rateLimitCost", "0"),
                ("isActive", "true"),
                ("claudeAccountId", ""),
                ("permissions", "[]"),
                ("enableModelRestriction", "false"),
                ("restrictedModels", "[]"),
                ("enableClientRestriction", "false"),
                ("allowedClients", "[]"),
                ("dailyCostLimit", "0"),
                ("totalCostLimit", "0"),
                ("weeklyOpusCostLimit", "0"),
                ("tags", "[]"),
                ("activationDays", "0"),
                ("activationUnit", "days"),
                ("expirationMode", "fixed"),
                ("isActivated", "true"),
                ("activatedAt", "2026-10-13T09:00:00.000Z"),
                ("createdAt", "2026-10-13T09:00:00.000Z"),
                ("lastUsedAt", ""),
                ("expiresAt", ""),
                ("createdBy", "admin"),
                ("userId", ""),
                ("icon", ""),
                ("serviceRates", "{}"),
                ("weeklyResetDay", "1"),
                ("weeklyResetHour", "0"),
                ("enableOpenAIResponsesCodexAdaptation", "true"),
                ("enableOpenAIResponsesPayloadRules", "false"),
                ("openaiResponsesPayloadRules", "[]"),
            ]),
            true,
        );
        assert_eq!(key.field_problems, vec![]);
        assert_eq!(
            key.limits,
            CrsLimits {
                weekly_reset_day: 1,
                ..CrsLimits::default()
            }
        );
        assert!(key.permissions.is_empty());
        assert_eq!(key.bindings.set(), vec![]);
        assert_eq!(key.expiry.expires_at, None);
        assert_eq!(key.last_used_at, None);
        assert!(!key.relay_settings.has_icon);
    }

    #[test]
    fn permissions_in_every_shape_crs_has_stored() {
        assert_eq!(
            parse_permissions(r#"["claude","droid"]"#),
            Ok(vec!["claude".into(), "droid".into()])
        );
        assert_eq!(parse_permissions("[]"), Ok(vec![]));
        assert_eq!(parse_permissions("all"), Ok(vec![]));
        assert_eq!(parse_permissions(""), Ok(vec![]));
        assert_eq!(parse_permissions("gemini"), Ok(vec!["gemini".into()]));
        assert_eq!(
            parse_permissions("claude, openai"),
            Ok(vec!["claude".into(), "openai".into()])
        );
        assert!(parse_permissions("both").is_err());
        assert!(parse_permissions(r#"["claude","bard"]"#).is_err());
        assert!(parse_permissions("[broken").is_err());
    }

    #[test]
    fn an_unknown_permission_is_kept_so_the_list_never_widens() {
        let key = parse_key(
            ID,
            &hash(&[("apiKey", HASH), ("permissions", r#"["bard"]"#)]),
            true,
        );
        assert_eq!(key.permissions, vec!["bard"]);
        assert_eq!(key.field_problems[0].field, "permissions");
    }

    #[test]
    fn soft_deleted_and_restored_keys() {
        let deleted = parse_key(
            ID,
            &hash(&[
                ("apiKey", HASH),
                ("isActive", "false"),
                ("isDeleted", "true"),
                ("deletedAt", "2026-11-27T18:41:59.300Z"),
                ("deletedBy", "admin"),
                ("deletedByType", "admin"),
            ]),
            false,
        );
        assert_eq!(
            deleted.deleted,
            Some(CrsLifecycleEvent {
                at: Some(at("2026-11-27T18:41:59.300Z")),
                by: "admin".into(),
                by_type: "admin".into(),
            })
        );
        assert_eq!(
            deleted.status(at("2026-11-28T00:00:00Z")),
            CrsKeyStatus::Deleted
        );
        assert!(!deleted.in_hash_map);

        let restored = parse_key(
            ID,
            &hash(&[
                ("apiKey", HASH),
                ("isActive", "true"),
                ("restoredAt", "2026-11-27T18:41:59.310Z"),
                ("restoredBy", "admin"),
                ("restoredByType", "admin"),
            ]),
            true,
        );
        assert_eq!(restored.deleted, None);
        assert_eq!(restored.restored.map(|r| r.by), Some("admin".to_string()));
    }

    #[test]
    fn activation_keys_before_and_after_their_first_use() {
        let pending = parse_key(
            ID,
            &hash(&[
                ("apiKey", HASH),
                ("isActive", "true"),
                ("expirationMode", "activation"),
                ("activationDays", "12"),
                ("activationUnit", "hours"),
                ("isActivated", "false"),
                ("activatedAt", ""),
                ("expiresAt", ""),
            ]),
            true,
        );
        assert_eq!(pending.expiry.mode, ExpirationMode::Activation);
        assert_eq!(pending.expiry.activation_unit, ActivationUnit::Hours);
        assert_eq!(pending.expiry.activation_days, 12);
        assert_eq!(
            pending.status(at("2026-11-27T00:00:00Z")),
            CrsKeyStatus::AwaitingActivation
        );
        let used = parse_key(
            ID,
            &hash(&[
                ("apiKey", HASH),
                ("isActive", "true"),
                ("expirationMode", "activation"),
                ("activationDays", "12"),
                ("activationUnit", "hours"),
                ("isActivated", "true"),
                ("activatedAt", "2026-11-26T08:00:00.000Z"),
                ("expiresAt", "2026-11-26T20:00:00.000Z"),
            ]),
            true,
        );
        assert_eq!(
            used.status(at("2026-11-26T19:00:00Z")),
            CrsKeyStatus::Active
        );
        assert_eq!(
            used.status(at("2026-11-27T00:00:00Z")),
            CrsKeyStatus::Expired
        );
    }

    #[test]
    fn each_bad_field_is_named_and_left_at_its_default() {
        let key = parse_key(
            ID,
            &hash(&[
                ("id", "someone-else"),
                ("apiKey", "not-a-hash"),
                ("dailyCostLimit", "12abc"),
                ("concurrencyLimit", "-1"),
                ("weeklyResetDay", "8"),
                ("isActive", "yes"),
                ("tags", "prod,team-a"),
                ("expiresAt", "2026-12-31T23:59"),
                ("expirationMode", "forever"),
                ("serviceRates", r#"{"claude":"fast"}"#),
                ("favouriteColour", "blue"),
            ]),
            true,
        );
        let named: Vec<&str> = key
            .field_problems
            .iter()
            .map(|p| p.field.as_str())
            .collect();
        for field in [
            "id",
            "apiKey",
            "dailyCostLimit",
            "concurrencyLimit",
            "weeklyResetDay",
            "isActive",
            "tags",
            "expiresAt",
            "expirationMode",
            "serviceRates",
        ] {
            assert!(named.contains(&field), "{field} missing from {named:?}");
        }
        assert_eq!(key.hashed_key, None);
        assert_eq!(key.limits.daily_cost_limit, NanoUsd::ZERO);
        assert_eq!(key.limits.weekly_reset_day, 1);
        assert!(
            !key.is_active,
            "CRS treats anything but \"true\" as disabled"
        );
        assert_eq!(key.expiry.expires_at, None);
        assert_eq!(key.unknown_fields, vec!["favouriteColour"]);
        // The hash of a secret is named, never shown.
        let api_key_problem = key
            .field_problems
            .iter()
            .find(|p| p.field == "apiKey")
            .expect("named");
        assert!(!api_key_problem.message.contains("not-a-hash"));
    }

    #[test]
    fn empty_values_after_an_update_to_null_read_as_no_limit() {
        // updateApiKey writes `(value ?? '').toString()`.
        let key = parse_key(
            ID,
            &hash(&[
                ("apiKey", HASH),
                ("rateLimitCost", ""),
                ("tokenLimit", ""),
                ("tags", ""),
            ]),
            true,
        );
        assert_eq!(key.field_problems, vec![]);
        assert_eq!(key.limits.rate_limit_cost, NanoUsd::ZERO);
        assert!(key.tags.is_empty());
    }
}
