//! Turns a claude-relay-service key and its usage into the keyward key an import writes: its
//! settings validated by the rules keyward's own key writes follow, its usage in keyward's
//! counters.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::crs::{
    ActivationUnit as CrsUnit, CrsKey, CrsUsage, ExpirationMode as CrsMode, ModelUsage,
    UsageCounts, YearMonth,
};
use crate::domain::budgets::{ActivationUnit, ModelRestrictionMode};
use crate::domain::clients::ClientMatcher;
use crate::domain::ids::{is_account_id, KeyId};
use crate::domain::imported::{ImportedKey, ImportedUsage};
use crate::domain::key::UsageTotals;
use crate::domain::key_fields::{KeyFieldsInput, Patch, Permissions};
use crate::domain::money::NanoUsd;
use crate::domain::secret::key_hint;

/// Who a key deleted in claude-relay-service without a name of the deleter is deleted by.
const UNKNOWN_DELETER: &str = "claude-relay-service";

/// The keyward key for `key`, or why it cannot be imported (every reason, `; `-joined).
pub fn imported_key(
    key: &CrsKey,
    usage: &CrsUsage,
    clients: &ClientMatcher,
    key_prefix: &str,
    now: DateTime<Utc>,
) -> Result<ImportedKey, String> {
    if let Some(reason) = super::report::skip_reason(key) {
        return Err(reason);
    }
    let id = KeyId::parse(&key.id).ok_or("its id is not a UUID")?;
    let secret_hash = key.hashed_key.clone().ok_or("no `apiKey` hash")?;
    let permissions =
        Permissions::of(key.permissions.iter().map(String::as_str)).ok_or_else(|| {
            format!(
                "permissions: {:?} names a service keyward does not know",
                key.permissions
            )
        })?;
    let account = |value: &Option<String>| match value {
        Some(id) if is_account_id(id) => Patch::Value(id.clone()),
        _ => Patch::Null,
    };
    let usd = |amount: NanoUsd| Patch::Value(amount.as_usd_f64());
    let limits = &key.limits;
    let small = |value: u32, field: &str| {
        u8::try_from(value).map_err(|_| format!("{field}: {value} is out of range"))
    };
    let bindings = &key.bindings;
    let activation = key.expiry.mode == CrsMode::Activation;
    let input = KeyFieldsInput {
        name: Patch::Value(key.name.clone()),
        description: Patch::Value(key.description.clone()),
        token_limit: Patch::Value(limits.token_limit),
        expires_at: Patch::Absent,
        claude_account_id: account(&bindings.claude_account_id),
        claude_console_account_id: account(&bindings.claude_console_account_id),
        gemini_account_id: account(&bindings.gemini_account_id),
        openai_account_id: account(&bindings.openai_account_id),
        bedrock_account_id: account(&bindings.bedrock_account_id),
        azure_openai_account_id: account(&bindings.azure_openai_account_id),
        droid_account_id: account(&bindings.droid_account_id),
        permissions: Patch::Value(permissions),
        // A restore in claude-relay-service makes a deleted key active again; so does one here.
        is_active: Patch::Value(key.is_active || key.deleted.is_some()),
        concurrency_limit: Patch::Value(limits.concurrency_limit),
        rate_limit_window: Patch::Value(limits.rate_limit_window_minutes),
        rate_limit_requests: Patch::Value(limits.rate_limit_requests),
        enable_model_restriction: Patch::Value(key.enable_model_restriction),
        restricted_models: Patch::Value(key.restricted_models.clone()),
        enable_client_restriction: Patch::Value(key.enable_client_restriction),
        // Ids keyward does not know are left out (and listed as not carried over).
        allowed_clients: Patch::Value(
            key.allowed_clients
                .iter()
                .filter(|c| clients.knows(c))
                .cloned()
                .collect(),
        ),
        daily_cost_limit: usd(limits.daily_cost_limit),
        total_cost_limit: usd(limits.total_cost_limit),
        // claude-relay-service's weekly limit counts Opus only (not carried over); keyward's
        // weekly budget is left off.
        weekly_cost_limit: Patch::Value(0.0),
        weekly_reset_day: Patch::Value(small(limits.weekly_reset_day, "weeklyResetDay")?),
        weekly_reset_hour: Patch::Value(small(limits.weekly_reset_hour, "weeklyResetHour")?),
        monthly_cost_limit: Patch::Value(0.0),
        rate_limit_cost: usd(limits.rate_limit_cost),
        allowed_ips: Patch::Value(Vec::new()),
        // claude-relay-service's restricted models are a deny list.
        model_restriction_mode: Patch::Value(ModelRestrictionMode::Deny),
        expiration_mode: Patch::Value(if activation { "activation" } else { "fixed" }.into()),
        activation_days: match u32::try_from(key.expiry.activation_days) {
            Ok(0) => Patch::Absent,
            Ok(count) if activation => Patch::Value(count),
            Ok(_) => Patch::Absent,
            Err(_) => {
                return Err(format!(
                    "activationDays: {} is out of range",
                    key.expiry.activation_days
                ))
            }
        },
        activation_unit: Patch::Value(match key.expiry.activation_unit {
            CrsUnit::Days => ActivationUnit::Days,
            CrsUnit::Hours => ActivationUnit::Hours,
        }),
        tags: Patch::Value(key.tags.clone()),
    };
    let mut changes = input
        .validate(clients)
        .map_err(|errors| {
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })?
        .with_defaults()
        .map_err(|e| format!("{}: {}", e.field, e.message))?;
    // As stored, past or not: an expired key stays expired, an activated key keeps the end
    // its first use gave it.
    changes.expires_at = Some(key.expiry.expires_at);

    let created_at = key.created_at.or(key.updated_at).unwrap_or(now);
    Ok(ImportedKey {
        id,
        secret_hash,
        key_hint: key_hint(key_prefix, ""),
        changes,
        created_by: if key.created_by.is_empty() {
            "admin".to_string()
        } else {
            key.created_by.clone()
        },
        created_at,
        updated_at: key.updated_at.unwrap_or(created_at),
        last_used_at: key.last_used_at.or(usage.last_record_at),
        activated_at: (activation && key.expiry.is_activated)
            .then_some(key.expiry.activated_at)
            .flatten(),
        deleted: key.deleted.as_ref().map(|event| {
            let by = if event.by.is_empty() {
                UNKNOWN_DELETER.to_string()
            } else {
                event.by.clone()
            };
            (event.at.unwrap_or(now), by)
        }),
        usage: imported_usage(usage),
    })
}

/// claude-relay-service counts cache writes in total and by lifetime; what the lifetimes do not
/// cover was written before it split them, with the 5-minute lifetime (the default).
fn totals(counts: &UsageCounts, cost: NanoUsd) -> UsageTotals {
    let by_lifetime = counts.ephemeral_5m_tokens + counts.ephemeral_1h_tokens;
    let unsplit = counts.cache_create_tokens.saturating_sub(by_lifetime);
    let mut totals = UsageTotals {
        requests: counts.requests,
        input_tokens: counts.input_tokens,
        output_tokens: counts.output_tokens,
        cache_create_5m_tokens: counts.ephemeral_5m_tokens + unsplit,
        cache_create_1h_tokens: counts.ephemeral_1h_tokens,
        cache_read_tokens: counts.cache_read_tokens,
        all_tokens: 0,
        cost,
    };
    totals.all_tokens = totals.input_tokens
        + totals.output_tokens
        + totals.cache_create_tokens()
        + totals.cache_read_tokens;
    totals
}

fn month_start(month: YearMonth) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(month.year, month.month, 1)
}

/// Usage as keyward counts it: rated cost (what claude-relay-service's limits compare), days
/// and months as claude-relay-service filed them (the caller makes sure its `TIMEZONE_OFFSET`
/// is keyward's time zone).
pub fn imported_usage(usage: &CrsUsage) -> ImportedUsage {
    let costs = &usage.costs;
    let cost_on = |date: &NaiveDate| costs.daily.get(date).copied().unwrap_or(NanoUsd::ZERO);
    let mut daily: BTreeMap<NaiveDate, UsageTotals> = usage
        .daily
        .iter()
        .map(|(date, counts)| (*date, totals(counts, cost_on(date))))
        .collect();
    // A day with a cost counter but no usage hash left (they expire apart).
    for (date, cost) in &costs.daily {
        daily
            .entry(*date)
            .or_insert_with(|| totals(&UsageCounts::default(), *cost));
    }
    let mut monthly = BTreeMap::new();
    for (month, counts) in &usage.monthly {
        if let Some(start) = month_start(*month) {
            let cost = costs.monthly.get(month).copied().unwrap_or(NanoUsd::ZERO);
            monthly.insert(start, totals(counts, cost));
        }
    }
    for (month, cost) in &costs.monthly {
        if let Some(start) = month_start(*month) {
            monthly
                .entry(start)
                .or_insert_with(|| totals(&UsageCounts::default(), *cost));
        }
    }
    let by_model = |models: &BTreeMap<String, ModelUsage>| -> BTreeMap<String, UsageTotals> {
        models
            .iter()
            .map(|(model, used)| (model.clone(), totals(&used.counts, used.rated_cost)))
            .collect()
    };
    ImportedUsage {
        total: totals(&usage.total, costs.total),
        daily,
        monthly,
        daily_by_model: usage
            .model_daily
            .iter()
            .map(|(date, models)| (*date, by_model(models)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;
    use crate::import::crs::parse_key;

    const ID: &str = "8fc5b6a2-447c-48ac-a245-b972be1377c5";
    const HASH: &str = "870aa3a03d5b2fb9861b5cdd0ce2106264c3fcad6bbe61fb6fde8a60015073bd";

    fn clients() -> ClientMatcher {
        let patterns: BTreeMap<String, String> =
            [("claude_code".to_string(), "^claude-cli/".to_string())].into();
        ClientMatcher::new(&patterns).expect("valid")
    }

    fn plan(pairs: &[(&str, &str)]) -> Result<ImportedKey, String> {
        let mut hash: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        hash.insert("apiKey".into(), HASH.into());
        hash.entry("name".into()).or_insert_with(|| "k".into());
        hash.insert("createdAt".into(), "2026-11-01T10:00:00.000Z".into());
        let key = parse_key(ID, &hash, true);
        imported_key(&key, &CrsUsage::default(), &clients(), "cr_", Utc::now())
    }

    #[test]
    fn settings_keep_their_values_and_unknown_clients_are_left_out() {
        let key = plan(&[
            ("dailyCostLimit", "12.5"),
            ("permissions", r#"["claude","openai"]"#),
            ("enableClientRestriction", "true"),
            ("allowedClients", r#"["claude_code","my_cli"]"#),
            ("expiresAt", "2020-01-01T00:00:00.000Z"),
            ("isActive", "true"),
        ])
        .expect("imports");
        let changes = &key.changes;
        assert_eq!(
            changes.daily_cost_limit,
            Some(NanoUsd::from_nanos(12_500_000_000))
        );
        assert_eq!(
            changes.permissions.map(Permissions::as_text).as_deref(),
            Some("claude,openai")
        );
        assert_eq!(
            changes.allowed_clients,
            Some(vec!["claude_code".to_string()])
        );
        // Past or not, the expiry is kept: an expired key stays expired.
        assert_eq!(
            changes.expires_at.flatten().map(|at| at.to_rfc3339()),
            Some("2020-01-01T00:00:00+00:00".to_string())
        );
        assert_eq!(key.key_hint, "cr_…");
    }

    #[test]
    fn a_deleted_key_comes_deleted_and_active_for_its_restore() {
        let key = plan(&[
            ("isActive", "false"),
            ("isDeleted", "true"),
            ("deletedAt", "2026-11-20T10:00:00.000Z"),
            ("deletedBy", "alice"),
        ])
        .expect("imports");
        assert_eq!(key.changes.is_active, Some(true));
        let (at, by) = key.deleted.expect("deleted");
        assert_eq!(
            (at.to_rfc3339().as_str(), by.as_str()),
            ("2026-11-20T10:00:00+00:00", "alice")
        );
    }

    #[test]
    fn a_value_keyward_refuses_skips_the_key_naming_the_field() {
        let refused = plan(&[("concurrencyLimit", "900000")]).expect_err("refused");
        assert!(refused.starts_with("concurrencyLimit:"), "{refused}");
    }

    #[test]
    fn cache_writes_not_split_by_lifetime_count_as_five_minute_writes() {
        let counts = UsageCounts {
            requests: 2,
            input_tokens: 10,
            cache_create_tokens: 300,
            ephemeral_1h_tokens: 100,
            ..UsageCounts::default()
        };
        let totals = totals(&counts, NanoUsd::from_nanos(7));
        assert_eq!(totals.cache_create_5m_tokens, 200);
        assert_eq!(totals.cache_create_1h_tokens, 100);
        assert_eq!(totals.all_tokens, 310);
        assert_eq!(totals.cost, NanoUsd::from_nanos(7));
    }
}
