//! JSON shapes of keys and usage, as the contract names their fields.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::domain::key::DailyModelUsage;
use crate::domain::key::{ApiKey, KeySnapshot, UsageTotals};
use crate::domain::window::remaining_secs;

pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn time_ms(ms: i64) -> Value {
    DateTime::from_timestamp_millis(ms)
        .map(|t| json!(time(t)))
        .unwrap_or(Value::Null)
}

/// The stored fields of a key (no live values); also the relay's `keyData`. A typed struct,
/// not a map, because the verify path serializes it on every request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyFields<'a> {
    id: String,
    name: &'a str,
    description: &'a str,
    token_limit: u64,
    expires_at: Option<String>,
    claude_account_id: Option<&'a str>,
    claude_console_account_id: Option<&'a str>,
    gemini_account_id: Option<&'a str>,
    openai_account_id: Option<&'a str>,
    bedrock_account_id: Option<&'a str>,
    permissions: &'static str,
    is_active: bool,
    status: &'static str,
    concurrency_limit: u64,
    rate_limit_window: u64,
    rate_limit_requests: u64,
    enable_model_restriction: bool,
    restricted_models: &'a [String],
    enable_client_restriction: bool,
    allowed_clients: &'a [String],
    daily_cost_limit: f64,
    tags: &'a [String],
    created_at: String,
    updated_at: String,
    last_used_at: Option<String>,
    created_by: &'a str,
}

pub fn key_fields(key: &ApiKey, now: DateTime<Utc>) -> KeyFields<'_> {
    let [claude, claude_console, gemini, openai, bedrock] = &key.accounts;
    KeyFields {
        id: key.id.to_string(),
        name: &key.name,
        description: &key.description,
        token_limit: key.token_limit,
        expires_at: key.expires_at.map(time),
        claude_account_id: claude.as_deref(),
        claude_console_account_id: claude_console.as_deref(),
        gemini_account_id: gemini.as_deref(),
        openai_account_id: openai.as_deref(),
        bedrock_account_id: bedrock.as_deref(),
        permissions: key.permissions.as_str(),
        is_active: key.is_active,
        status: key.status(now).as_str(),
        concurrency_limit: key.concurrency_limit,
        rate_limit_window: key.rate_limit_window_minutes,
        rate_limit_requests: key.rate_limit_requests,
        enable_model_restriction: key.enable_model_restriction,
        restricted_models: &key.restricted_models,
        enable_client_restriction: key.enable_client_restriction,
        allowed_clients: &key.allowed_clients,
        daily_cost_limit: key.daily_cost_limit.as_usd_f64(),
        tags: &key.tags,
        created_at: time(key.created_at),
        updated_at: time(key.updated_at),
        last_used_at: key.last_used_at.map(time),
        created_by: &key.created_by,
    }
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
    let mut fields = match serde_json::to_value(key_fields(&snapshot.key, now)) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
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
