//! JSON shapes of keys and usage, as the contract names their fields.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::domain::key::{ApiKey, KeySnapshot, UsageTotals};
use crate::domain::key_fields::ACCOUNT_FIELDS;
use crate::domain::window::remaining_secs;
use crate::store::DailyModelUsage;

pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn time_ms(ms: i64) -> Value {
    DateTime::from_timestamp_millis(ms)
        .map(|t| json!(time(t)))
        .unwrap_or(Value::Null)
}

/// The stored fields of a key (no live values); also the relay's `keyData`.
pub fn key_fields(key: &ApiKey, now: DateTime<Utc>) -> Map<String, Value> {
    let mut fields = Map::new();
    let mut put = |name: &str, value: Value| {
        fields.insert(name.to_string(), value);
    };
    put("id", json!(key.id.to_string()));
    put("name", json!(key.name));
    put("description", json!(key.description));
    put("tokenLimit", json!(key.token_limit));
    put("expiresAt", json!(key.expires_at.map(time)));
    for (field, account) in ACCOUNT_FIELDS.iter().zip(&key.accounts) {
        put(field, json!(account));
    }
    put("permissions", json!(key.permissions.as_str()));
    put("isActive", json!(key.is_active));
    put("status", json!(key.status(now).as_str()));
    put("concurrencyLimit", json!(key.concurrency_limit));
    put("rateLimitWindow", json!(key.rate_limit_window_minutes));
    put("rateLimitRequests", json!(key.rate_limit_requests));
    put(
        "enableModelRestriction",
        json!(key.enable_model_restriction),
    );
    put("restrictedModels", json!(key.restricted_models));
    put(
        "enableClientRestriction",
        json!(key.enable_client_restriction),
    );
    put("allowedClients", json!(key.allowed_clients));
    put("dailyCostLimit", json!(key.daily_cost_limit.as_usd_f64()));
    put("tags", json!(key.tags));
    put("createdAt", json!(time(key.created_at)));
    put("updatedAt", json!(time(key.updated_at)));
    put("lastUsedAt", json!(key.last_used_at.map(time)));
    put("createdBy", json!(key.created_by));
    fields
}

pub fn usage_totals(totals: &UsageTotals) -> Value {
    json!({
        "requests": totals.requests,
        "inputTokens": totals.input_tokens,
        "outputTokens": totals.output_tokens,
        "cacheCreateTokens": totals.cache_create_tokens(),
        "cacheCreate5mTokens": totals.cache_create_5m_tokens,
        "cacheCreate1hTokens": totals.cache_create_1h_tokens,
        "cacheReadTokens": totals.cache_read_tokens,
        "allTokens": totals.all_tokens,
        "cost": totals.cost.as_usd_f64(),
        "costNanoUsd": totals.cost.nanos(),
    })
}

/// A key as the admin API returns it: stored fields, live limits, usage.
pub fn key_snapshot(snapshot: &KeySnapshot, now: DateTime<Utc>) -> Value {
    let mut fields = key_fields(&snapshot.key, now);
    let now_ms = now.timestamp_millis();
    let window = snapshot.window.as_ref();
    let mut put = |name: &str, value: Value| {
        fields.insert(name.to_string(), value);
    };
    put("currentConcurrency", json!(snapshot.current_concurrency));
    put(
        "currentWindowRequests",
        json!(window.map_or(0, |w| w.requests)),
    );
    put("currentWindowTokens", json!(window.map_or(0, |w| w.tokens)));
    put(
        "windowStartTime",
        window.map_or(Value::Null, |w| time_ms(w.start_ms)),
    );
    put(
        "windowEndTime",
        window.map_or(Value::Null, |w| time_ms(w.end_ms)),
    );
    put(
        "windowRemainingSeconds",
        json!(window.and_then(|w| remaining_secs(w.end_ms, now_ms))),
    );
    put("dailyCost", json!(snapshot.daily.cost.as_usd_f64()));
    put(
        "usage",
        json!({
            "total": usage_totals(&snapshot.total),
            "daily": usage_totals(&snapshot.daily),
            "monthly": usage_totals(&snapshot.monthly),
        }),
    );
    Value::Object(fields)
}

/// Daily usage per model, with each day's total.
pub fn daily_usage(days: &[DailyModelUsage]) -> Value {
    let days: Vec<Value> = days
        .iter()
        .map(|day| {
            let mut total = UsageTotals::default();
            let mut models = Map::new();
            for (model, usage) in &day.models {
                total.add(usage);
                models.insert(model.clone(), usage_totals(usage));
            }
            json!({
                "date": day.date.format("%Y-%m-%d").to_string(),
                "models": models,
                "total": usage_totals(&total),
            })
        })
        .collect();
    Value::Array(days)
}
