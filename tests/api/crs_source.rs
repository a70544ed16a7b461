//! `keyward import crs --dry-run`: reading a claude-relay-service Redis that claude-relay-service's
//! own code built (see tests/crs/seed.js), without writing anything anywhere.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;

use crate::support::crs::{
    import_crs, seed, Run, SeededKey, SeededUsage, SourceRedis, TIMEZONE_OFFSET_HOURS,
};
use crate::support::RedisServer;

fn dry_run_json(keyward_redis: &RedisServer, source: &SourceRedis) -> Value {
    let run = import_crs(keyward_redis, &source.url(), &[], &["--dry-run", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("the report is JSON")
}

fn instant(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|at| at.with_timezone(&Utc))
}

fn assert_near(actual: Option<DateTime<Utc>>, expected: DateTime<Utc>, what: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{what}: missing, expected {expected}"));
    // The seed moves the service's clock to each instant just before calling it.
    assert!(
        (actual - expected).num_milliseconds().abs() < 2000,
        "{what}: {actual} is not {expected}"
    );
}

/// A USD amount as the report writes it ("12.50"), in nano-USD.
fn nanos(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not an amount"));
    (text.parse::<f64>().expect("an amount") * 1e9).round() as i64
}

fn usd_nanos(usd: f64) -> i64 {
    (usd * 1e9).round() as i64
}

/// Amounts CRS summed as floats match the exact sum to a nano-USD per request.
fn assert_amount(actual: &Value, expected_usd: f64, requests: usize, what: &str) {
    let difference = (nanos(actual) - usd_nanos(expected_usd)).abs();
    assert!(
        difference <= requests as i64 + 1,
        "{what}: {actual} is not {expected_usd}"
    );
}

/// The day claude-relay-service files `at` under: its local date at TIMEZONE_OFFSET.
fn crs_date(at: DateTime<Utc>) -> NaiveDate {
    (at + Duration::hours(i64::from(TIMEZONE_OFFSET_HOURS))).date_naive()
}

/// The model name claude-relay-service files usage under (its `_normalizeModelName`, for the
/// names the seed uses: a Bedrock id loses its region, vendor and version).
fn crs_model(model: &str) -> &str {
    match model {
        "us.anthropic.claude-3-5-haiku-20241022-v1:0" => "claude-3-5-haiku-20241022",
        other => other,
    }
}

fn all_tokens(u: &SeededUsage) -> u64 {
    u.input_tokens + u.output_tokens + u.cache_create_tokens + u.cache_read_tokens
}

/// The state the report must give each seeded case.
fn expected_status(label: &str) -> &'static str {
    match label {
        "expired" | "activation-hours-expired" => "expired",
        "disabled" => "disabled",
        "deleted" => "deleted",
        "activation-pending" => "awaiting-activation",
        _ => "active",
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{value} is not a list"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

fn check_fields(seeded: &SeededKey, report: &Value) {
    let label = seeded.label.as_str();
    let options = &seeded.options;
    let what = |field: &str| format!("{label}.{field}");
    assert_eq!(report["name"], options["name"], "{label}");
    assert_eq!(
        report["fieldProblems"],
        serde_json::json!([]),
        "{label}: every field read"
    );
    assert_eq!(
        report["unknownFields"],
        serde_json::json!([]),
        "{label}: every field known"
    );
    assert_eq!(
        report["description"].as_str(),
        Some(options["description"].as_str().unwrap_or("")),
        "{label}"
    );
    assert_eq!(report["status"], expected_status(label), "{label}");
    assert_eq!(
        report["isActive"],
        !matches!(label, "disabled" | "deleted"),
        "{label}"
    );
    assert_eq!(report["inHashMap"], label != "deleted", "{label}");
    assert_eq!(report["skipReason"], Value::Null, "{label}");

    let limits = &report["limits"];
    for (option, field) in [
        ("tokenLimit", "tokenLimit"),
        ("concurrencyLimit", "concurrencyLimit"),
        ("rateLimitWindow", "rateLimitWindowMinutes"),
        ("rateLimitRequests", "rateLimitRequests"),
    ] {
        assert_eq!(
            limits[field],
            options[option].as_u64().unwrap_or(0),
            "{}",
            what(field)
        );
    }
    for field in [
        "rateLimitCost",
        "dailyCostLimit",
        "totalCostLimit",
        "weeklyOpusCostLimit",
    ] {
        let expected = options[field].as_f64().unwrap_or(0.0);
        assert_eq!(
            nanos(&limits[field]),
            usd_nanos(expected),
            "{}",
            what(field)
        );
    }
    assert_eq!(
        limits["weeklyResetDay"],
        options["weeklyResetDay"].as_u64().unwrap_or(1)
    );
    assert_eq!(
        limits["weeklyResetHour"],
        options["weeklyResetHour"].as_u64().unwrap_or(0)
    );

    let permissions = match &options["permissions"] {
        Value::Null => vec![],
        Value::String(one) => vec![one.clone()],
        list => strings(list),
    };
    assert_eq!(
        strings(&report["permissions"]),
        permissions,
        "{}",
        what("permissions")
    );
    for field in ["restrictedModels", "allowedClients", "tags"] {
        let expected = if options[field].is_null() {
            vec![]
        } else {
            strings(&options[field])
        };
        assert_eq!(strings(&report[field]), expected, "{}", what(field));
    }
    for field in ["enableModelRestriction", "enableClientRestriction"] {
        assert_eq!(
            report[field],
            options[field].as_bool().unwrap_or(false),
            "{}",
            what(field)
        );
    }
    for field in [
        "claudeAccountId",
        "claudeConsoleAccountId",
        "geminiAccountId",
        "openaiAccountId",
        "azureOpenaiAccountId",
        "bedrockAccountId",
        "droidAccountId",
    ] {
        assert_eq!(report["bindings"][field], options[field], "{}", what(field));
    }
    assert_eq!(report["bindings"]["ccrAccountId"], Value::Null);
    assert_eq!(
        report["createdBy"].as_str(),
        Some(options["createdBy"].as_str().unwrap_or("admin"))
    );
    assert_eq!(
        report["userId"].as_str(),
        Some(options["userId"].as_str().unwrap_or(""))
    );
    assert_eq!(
        instant(&report["createdAt"]),
        Some(seeded.created_at),
        "{label}"
    );
    // Usage and the first use of an activation-mode key (its activation) both set lastUsedAt.
    let last_used = seeded
        .usage
        .iter()
        .map(|u| u.at)
        .chain(seeded.action_at("activate"))
        .max();
    match last_used {
        Some(last) => assert_near(instant(&report["lastUsedAt"]), last, &what("lastUsedAt")),
        None => assert_eq!(report["lastUsedAt"], Value::Null, "{label}"),
    }

    let expiry = &report["expiry"];
    match label {
        "activation-pending" => {
            assert_eq!(expiry["mode"], "activation");
            assert_eq!(expiry["activationDays"], 30);
            assert_eq!(expiry["activationUnit"], "days");
            assert_eq!(expiry["isActivated"], false);
            assert_eq!(expiry["activatedAt"], Value::Null);
            assert_eq!(expiry["expiresAt"], Value::Null);
        }
        "activation-hours-expired" | "activation-days" => {
            let activated = seeded.action_at("activate").expect("activated");
            let (count, unit, lasts) = if label == "activation-days" {
                (30, "days", Duration::days(30))
            } else {
                (12, "hours", Duration::hours(12))
            };
            assert_eq!(expiry["mode"], "activation");
            assert_eq!(expiry["activationDays"], count);
            assert_eq!(expiry["activationUnit"], unit);
            assert_eq!(expiry["isActivated"], true);
            assert_near(
                instant(&expiry["activatedAt"]),
                activated,
                &what("activatedAt"),
            );
            assert_near(
                instant(&expiry["expiresAt"]),
                activated + lasts,
                &what("expiresAt"),
            );
        }
        _ => {
            assert_eq!(expiry["mode"], "fixed", "{label}");
            assert_eq!(expiry["isActivated"], true, "{label}");
            assert_eq!(
                instant(&expiry["expiresAt"]),
                instant(&options["expiresAt"]),
                "{label}"
            );
        }
    }

    match label {
        "deleted" => {
            let deleted = &report["deleted"];
            assert_eq!(
                (deleted["by"].as_str(), deleted["byType"].as_str()),
                (Some("admin"), Some("admin"))
            );
            assert_near(
                instant(&deleted["at"]),
                seeded.action_at("delete").expect("deleted"),
                "deletedAt",
            );
        }
        "restored" => {
            assert_eq!(report["deleted"], Value::Null);
            assert_eq!(report["restored"]["by"], "admin");
            assert_near(
                instant(&report["restored"]["at"]),
                seeded.action_at("restore").expect("restored"),
                "restoredAt",
            );
        }
        _ => {
            assert_eq!(report["deleted"], Value::Null, "{label}");
            assert_eq!(report["restored"], Value::Null, "{label}");
        }
    }
    if label == "regenerated" {
        assert_near(
            instant(&report["updatedAt"]),
            seeded.action_at("regenerate").expect("regenerated"),
            "updatedAt",
        );
    }

    let left: Vec<String> = report["notCarriedOver"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|n| n["field"].as_str().expect("a field").to_string())
        .collect();
    let expected_left: &[&str] = match label {
        "full" => &[
            "weeklyOpusCostLimit",
            "serviceRates",
            "icon",
            "userId",
            "enableOpenAIResponsesCodexAdaptation",
            "openaiResponsesPayloadRules",
        ],
        "deleted" => &["deletedByType"],
        "restored" => &["restoredAt"],
        _ => &[],
    };
    assert_eq!(left, expected_left, "{label}: fields not carried over");
}

fn check_usage(seeded: &SeededKey, usage: &Value) {
    let label = seeded.label.as_str();
    let records = &seeded.usage;
    assert_eq!(usage["problems"], serde_json::json!([]), "{label}");
    let sum = |f: fn(&SeededUsage) -> u64| records.iter().map(f).sum::<u64>();
    let total = &usage["total"];
    assert_eq!(total["requests"], records.len() as u64, "{label}");
    assert_eq!(total["inputTokens"], sum(|u| u.input_tokens), "{label}");
    assert_eq!(total["outputTokens"], sum(|u| u.output_tokens), "{label}");
    assert_eq!(
        total["cacheCreateTokens"],
        sum(|u| u.cache_create_tokens),
        "{label}"
    );
    assert_eq!(
        total["cacheReadTokens"],
        sum(|u| u.cache_read_tokens),
        "{label}"
    );
    assert_eq!(total["allTokens"], sum(all_tokens), "{label}");
    assert_eq!(
        total["coreTokens"],
        sum(|u| u.input_tokens + u.output_tokens),
        "{label}"
    );
    assert_eq!(
        total["ephemeral5mTokens"],
        sum(|u| u.ephemeral_5m_tokens),
        "{label}"
    );
    assert_eq!(
        total["ephemeral1hTokens"],
        sum(|u| u.ephemeral_1h_tokens),
        "{label}"
    );

    // Per day, month and hour of claude-relay-service's TIMEZONE_OFFSET, not of UTC.
    let mut days: BTreeMap<String, Vec<&SeededUsage>> = BTreeMap::new();
    let mut months: BTreeMap<String, Vec<&SeededUsage>> = BTreeMap::new();
    let mut hours: BTreeSet<String> = BTreeSet::new();
    for record in records {
        let local = record.at + Duration::hours(i64::from(TIMEZONE_OFFSET_HOURS));
        days.entry(crs_date(record.at).to_string())
            .or_default()
            .push(record);
        months
            .entry(local.format("%Y-%m").to_string())
            .or_default()
            .push(record);
        hours.insert(local.format("%Y-%m-%d:%H").to_string());
    }
    let keys_of = |value: &Value| -> BTreeSet<String> {
        value.as_object().expect("a map").keys().cloned().collect()
    };
    assert_eq!(
        keys_of(&usage["daily"]),
        days.keys().cloned().collect(),
        "{label}: days"
    );
    assert_eq!(
        keys_of(&usage["monthly"]),
        months.keys().cloned().collect(),
        "{label}: months"
    );
    assert_eq!(keys_of(&usage["hourly"]), hours, "{label}: hours");
    for (day, on_day) in &days {
        let counted = &usage["daily"][day];
        assert_eq!(counted["requests"], on_day.len() as u64, "{label} {day}");
        assert_eq!(
            counted["allTokens"],
            on_day.iter().map(|u| all_tokens(u)).sum::<u64>(),
            "{label} {day}"
        );
        assert_eq!(
            counted["inputTokens"],
            on_day.iter().map(|u| u.input_tokens).sum::<u64>(),
            "{label} {day}"
        );
        let rated: f64 = on_day.iter().map(|u| u.rated_cost).sum();
        assert_amount(
            &usage["costs"]["daily"][day],
            rated,
            on_day.len(),
            &format!("{label} cost {day}"),
        );
        let real: f64 = on_day.iter().map(|u| u.real_cost).sum();
        assert_amount(
            &usage["costs"]["realDaily"][day],
            real,
            on_day.len(),
            &format!("{label} real cost {day}"),
        );
    }
    for (month, in_month) in &months {
        assert_eq!(
            usage["monthly"][month]["requests"],
            in_month.len() as u64,
            "{label} {month}"
        );
        let rated: f64 = in_month.iter().map(|u| u.rated_cost).sum();
        assert_amount(
            &usage["costs"]["monthly"][month],
            rated,
            in_month.len(),
            &format!("{label} cost {month}"),
        );
    }

    let rated: f64 = records.iter().map(|u| u.rated_cost).sum();
    let real: f64 = records.iter().map(|u| u.real_cost).sum();
    assert_amount(
        &usage["costs"]["total"],
        rated,
        records.len(),
        &format!("{label} total cost"),
    );
    assert_amount(
        &usage["costs"]["realTotal"],
        real,
        records.len(),
        &format!("{label} real total"),
    );
    // The Opus week counts Claude-family models used through Claude accounts.
    let opus: Vec<&SeededUsage> = records
        .iter()
        .filter(|u| crs_model(&u.model).starts_with("claude"))
        .filter(|u| {
            matches!(
                u.account_type.as_str(),
                "claude-official" | "claude-console"
            )
        })
        .collect();
    let opus_rated: f64 = opus.iter().map(|u| u.rated_cost).sum();
    assert_amount(
        &usage["costs"]["opusTotal"],
        opus_rated,
        opus.len(),
        &format!("{label} opus"),
    );

    let mut by_model: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    for record in records {
        let entry = by_model.entry(crs_model(&record.model)).or_default();
        entry.0 += 1;
        entry.1 += record.rated_cost;
    }
    let models: BTreeSet<String> = keys_of(&usage["modelAlltime"]);
    assert_eq!(
        models,
        by_model.keys().map(|m| m.to_string()).collect(),
        "{label}: models"
    );
    for (model, (requests, rated)) in by_model {
        let counted = &usage["modelAlltime"][model];
        assert_eq!(counted["requests"], requests, "{label} {model}");
        // Per-model costs are whole micro-USD per request.
        let difference = (nanos(&counted["ratedCost"]) - usd_nanos(rated)).abs();
        assert!(
            difference <= 500 * requests as i64,
            "{label} {model}: {}",
            counted["ratedCost"]
        );
    }
    match records.iter().map(|u| u.at).max() {
        Some(last) => assert_near(
            instant(&usage["lastRecordAt"]),
            last,
            &format!("{label} last record"),
        ),
        None => assert_eq!(usage["lastRecordAt"], Value::Null),
    }
}

#[test]
fn dry_run_reports_every_key_crs_made_with_its_fields_and_usage() {
    let source = SourceRedis::start();
    let Some(seeded) = seed(&source) else { return };
    let keyward_redis = RedisServer::start();
    let report = dry_run_json(&keyward_redis, &source);

    let reported: BTreeMap<&str, &Value> = report["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| (k["id"].as_str().expect("id"), k))
        .collect();
    assert_eq!(
        reported.keys().copied().collect::<BTreeSet<_>>(),
        seeded.keys.iter().map(|k| k.id.as_str()).collect(),
        "every key claude-relay-service made, and no other"
    );
    for key in &seeded.keys {
        check_fields(key, reported[key.id.as_str()]);
        check_usage(key, &reported[key.id.as_str()]["usage"]);
    }

    let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
    for key in &seeded.keys {
        *by_status.entry(expected_status(&key.label)).or_default() += 1;
    }
    let counted: BTreeMap<&str, u64> = report["byStatus"]
        .as_object()
        .expect("counts")
        .iter()
        .map(|(status, n)| (status.as_str(), n.as_u64().expect("a count")))
        .collect();
    assert_eq!(counted, by_status);
    assert_eq!(report["keysFound"], seeded.keys.len());
    assert_eq!(report["wouldImport"], seeded.keys.len());
    assert_eq!(report["wouldSkip"], 0);
    // The soft-deleted key left the hash map; the restore wrote the older lookup too.
    assert_eq!(report["hashMapEntries"], seeded.keys.len() - 1);
    assert_eq!(report["legacyHashEntries"], 1);
    assert_eq!(report["danglingLookups"], 0);
    assert_eq!(report["orphanUsageIds"], serde_json::json!([]));
    let requests: usize = seeded.keys.iter().map(|k| k.usage.len()).sum();
    assert_eq!(report["totalRequests"], requests);
    let rated: f64 = seeded
        .keys
        .iter()
        .flat_map(|k| &k.usage)
        .map(|u| u.rated_cost)
        .sum();
    assert_amount(&report["totalCost"], rated, requests, "total cost");
    assert_eq!(
        report["sourceOffset"], "-07:00",
        "the offset the usage was filed at"
    );
    assert_eq!(report["timezoneMatches"], false, "keyward runs in UTC here");
    assert!(seeded.encryption_key.len() == 32);
}

#[test]
fn dry_run_writes_nothing_and_says_what_it_would_do() {
    let source = SourceRedis::start();
    let Some(seeded) = seed(&source) else { return };
    let keyward_redis = RedisServer::start();
    let before = source.contents();
    assert!(before.len() > 100, "the seed made a real installation");
    source.cli(&["CONFIG", "RESETSTAT"]);

    let text = import_crs(&keyward_redis, &source.url(), &[], &["--dry-run"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let full = seeded
        .keys
        .iter()
        .find(|k| k.label == "full")
        .expect("full");
    for line in [
        "Keys by state: active 7, awaiting activation 1, disabled 1, expired 2, deleted 1"
            .to_string(),
        format!("Would import {} keys, skip 0.", seeded.keys.len()),
        format!("key {} \"full\": active", full.id),
        "  not carried over: weeklyOpusCostLimit: $40.00 a week".to_string(),
        "set KEYWARD_TIMEZONE=-07:00 before importing".to_string(),
        "Dry run: nothing was written.".to_string(),
    ] {
        assert!(
            text.stdout.contains(&line),
            "{line:?} missing from:\n{}",
            text.stdout
        );
    }
    assert!(!text.stdout.contains(&full.api_key), "no secret is printed");
    let matching = import_crs(
        &keyward_redis,
        &source.url(),
        &[("KEYWARD_TIMEZONE", "-07:00")],
        &["--dry-run"],
    );
    assert!(
        matching.stdout.contains(
            "counted them at UTC-07:00 (TIMEZONE_OFFSET), as KEYWARD_TIMEZONE (-07:00) does now"
        ),
        "{}",
        matching.stdout
    );
    let json = import_crs(&keyward_redis, &source.url(), &[], &["--dry-run", "--json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    for key in &seeded.keys {
        assert!(!json.stdout.contains(&key.api_key), "no secret is printed");
    }

    // Only reads reached the source, and its data is as it was.
    let read_only = [
        "scan",
        "hscan",
        "type",
        "hgetall",
        "hget",
        "get",
        "lindex",
        "ping",
        "hello",
        "select",
        "client|setinfo",
        "config|resetstat",
        "info",
    ];
    for command in source.commands_run() {
        assert!(
            read_only.contains(&command.as_str()),
            "the dry run sent `{command}`"
        );
    }
    assert!(source.commands_run().contains(&"hgetall".to_string()));
    assert_eq!(source.contents(), before, "the source is unchanged");
    assert_eq!(
        keyward_redis.all_keys(),
        Vec::<String>::new(),
        "keyward's Redis is untouched"
    );
}

#[test]
fn a_redis_that_is_not_claude_relay_service_is_refused() {
    let keyward_redis = RedisServer::start();
    let other = SourceRedis::start();
    let refused = |run: &Run| {
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.contains("is not a claude-relay-service Redis"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("database 0"), "{}", run.stderr);
    };
    refused(&import_crs(
        &keyward_redis,
        &other.url(),
        &[],
        &["--dry-run"],
    ));

    // Names that look like CRS's but are not its keys: indexes, global totals, a lookup that is
    // no hash, and keyward's own records.
    other.cli(&["SADD", "apikey:tags:all", "prod"]);
    other.cli(&["HSET", "usage:global:total", "requests", "3"]);
    other.cli(&["SET", "apikey:hash_map", "not a hash"]);
    other.cli(&["HSET", "kw:{k:1}:key", "name", "keyward key"]);
    other.cli(&["HSET", "apikey:123", "name", "no secret hash here"]);
    let before = other.contents();
    refused(&import_crs(
        &keyward_redis,
        &other.url(),
        &[],
        &["--dry-run"],
    ));
    assert_eq!(other.contents(), before);

    // The password in the URL never shows in a message.
    let wrong = import_crs(
        &keyward_redis,
        &format!("redis://:hunter2-secret@127.0.0.1:{}/0", other.port),
        &[],
        &["--dry-run"],
    );
    assert_eq!(wrong.code, 1);
    assert!(!wrong.stderr.contains("hunter2"), "{}", wrong.stderr);
    let cluster = import_crs(
        &keyward_redis,
        &format!("{},{}", other.url(), other.url()),
        &[],
        &["--dry-run"],
    );
    assert_eq!(cluster.code, 1);
    assert!(
        cluster.stderr.contains("single Redis node"),
        "{}",
        cluster.stderr
    );
    assert_eq!(keyward_redis.all_keys(), Vec::<String>::new());
}

/// Data from claude-relay-service releases before 1.1.314 (written by hand here, as those
/// releases wrote it): permissions as a plain string, usage under the older counter names,
/// only the older `apikey_hash:` lookup; plus a field it never wrote and one it cannot read.
#[test]
fn hashes_from_older_releases_are_read_and_problems_named() {
    let keyward_redis = RedisServer::start();
    let source = SourceRedis::start();
    let id = "0b6f3c8e-8a57-4a5e-9a39-3c5f3ad0e111";
    let hash = "a".repeat(64);
    let key = format!("apikey:{id}");
    source.cli(&[
        "HSET",
        &key,
        "id",
        id,
        "name",
        "old",
        "apiKey",
        &hash,
        "isActive",
        "true",
        "permissions",
        "claude",
        "dailyCostLimit",
        "5",
        "createdAt",
        "2025-03-01T08:00:00.000Z",
        "expiresAt",
        "2099-01-01",
        "tokenLimit",
        "lots",
        "legacyNote",
        "x",
    ]);
    source.cli(&[
        "HSET",
        &format!("apikey_hash:{hash}"),
        "id",
        id,
        "name",
        "old",
        "isActive",
        "true",
    ]);
    source.cli(&[
        "HSET",
        &format!("usage:{id}"),
        "tokens",
        "900",
        "requests",
        "4",
    ]);
    source.cli(&["SET", &format!("usage:cost:total:{id}"), "1.5e-7"]);
    // A key erased for good leaves `usage:<id>` behind.
    source.cli(&[
        "HSET",
        "usage:7d2c2d3c-6f0e-4a8e-b7c9-0d1c1b2a3f44",
        "totalRequests",
        "1",
    ]);

    let run = import_crs(&keyward_redis, &source.url(), &[], &["--dry-run", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let old = &report["keys"][0];
    assert_eq!(old["permissions"], serde_json::json!(["claude"]));
    assert_eq!(old["inHashMap"], true, "found through the older lookup");
    assert_eq!(old["expiry"]["expiresAt"], "2099-01-01T00:00:00Z");
    assert_eq!(old["usage"]["total"]["requests"], 4);
    assert_eq!(old["usage"]["total"]["coreTokens"], 900);
    assert_eq!(old["usage"]["costs"]["total"], "0.00000015");
    assert_eq!(old["unknownFields"], serde_json::json!(["legacyNote"]));
    assert_eq!(old["fieldProblems"][0]["field"], "tokenLimit");
    assert_eq!(
        report["orphanUsageIds"],
        serde_json::json!(["7d2c2d3c-6f0e-4a8e-b7c9-0d1c1b2a3f44"])
    );
    assert_eq!(report["hashMapEntries"], 0);
    assert_eq!(report["legacyHashEntries"], 1);

    let text = import_crs(&keyward_redis, &source.url(), &[], &["--dry-run"]);
    assert!(
        text.stdout.contains(
            "  not carried over: tokenLimit: cannot be read: `lots` is not a whole number"
        ),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(
            "  not carried over: legacyNote: not a field claude-relay-service 1.1.314 writes"
        ),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("1 ids have usage counters but no key"),
        "{}",
        text.stdout
    );
}
