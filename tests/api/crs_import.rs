//! `keyward import crs`: writing the keys of a claude-relay-service Redis that its own code built
//! (see tests/crs/seed.js) into keyward, then checking them through keyward's APIs.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::crs::{
    import_crs, seed, SeededKey, SeededUsage, SourceRedis, ENCRYPTION_KEY, TIMEZONE_OFFSET_HOURS,
};
use crate::support::{RedisServer, TestApp};

/// keyward set up as the migration asks: claude-relay-service's encryption key and day offset.
const MIGRATION_ENV: [(&str, &str); 2] = [
    ("KEYWARD_ENCRYPTION_KEY", ENCRYPTION_KEY),
    ("KEYWARD_TIMEZONE", "-07:00"),
];

fn report(run: &crate::support::crs::Run) -> Value {
    assert_eq!(run.code, 0, "{}\n{}", run.stderr, run.stdout);
    serde_json::from_str(&run.stdout).expect("the report is JSON")
}

fn outcomes(report: &Value) -> BTreeMap<String, Value> {
    report["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| (k["id"].as_str().expect("id").to_string(), k.clone()))
        .collect()
}

fn crs_local(at: DateTime<Utc>) -> DateTime<Utc> {
    at + Duration::hours(i64::from(TIMEZONE_OFFSET_HOURS))
}

/// The day claude-relay-service filed `at` under (its TIMEZONE_OFFSET), which keyward's days
/// are at KEYWARD_TIMEZONE=-07:00 too.
fn day_of(at: DateTime<Utc>) -> NaiveDate {
    crs_local(at).date_naive()
}

fn usd_nanos(usd: f64) -> i64 {
    (usd * 1e9).round() as i64
}

/// CRS sums costs as floats; each request may be a nano-USD off (micro-USD per model).
fn assert_cost(
    actual_nanos: &Value,
    expected_usd: f64,
    slack_per_request: i64,
    requests: usize,
    what: &str,
) {
    let actual = actual_nanos
        .as_i64()
        .unwrap_or_else(|| panic!("{what}: {actual_nanos}"));
    let difference = (actual - usd_nanos(expected_usd)).abs();
    assert!(
        difference <= slack_per_request * requests as i64 + 1,
        "{what}: {actual} nano-USD is not ${expected_usd}"
    );
}

fn sum(records: &[&SeededUsage], f: fn(&SeededUsage) -> u64) -> u64 {
    records.iter().map(|&u| f(u)).sum()
}

/// Token counters and cost of a keyward usage bucket against the records it should hold.
fn check_bucket(bucket: &Value, records: &[&SeededUsage], what: &str) {
    assert_eq!(bucket["requests"], records.len() as u64, "{what}: requests");
    assert_eq!(
        bucket["inputTokens"],
        sum(records, |u| u.input_tokens),
        "{what}"
    );
    assert_eq!(
        bucket["outputTokens"],
        sum(records, |u| u.output_tokens),
        "{what}"
    );
    assert_eq!(
        bucket["cacheCreateTokens"],
        sum(records, |u| u.cache_create_tokens),
        "{what}"
    );
    assert_eq!(
        bucket["cacheCreate1hTokens"],
        sum(records, |u| u.ephemeral_1h_tokens),
        "{what}"
    );
    assert_eq!(
        bucket["cacheReadTokens"],
        sum(records, |u| u.cache_read_tokens),
        "{what}"
    );
    assert_eq!(
        bucket["allTokens"],
        sum(records, |u| u.input_tokens
            + u.output_tokens
            + u.cache_create_tokens
            + u.cache_read_tokens),
        "{what}"
    );
    let rated: f64 = records.iter().map(|u| u.rated_cost).sum();
    assert_cost(&bucket["costNanoUsd"], rated, 1, records.len(), what);
}

fn instant(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn assert_near(actual: &Value, expected: DateTime<Utc>, what: &str) {
    let actual = instant(actual).unwrap_or_else(|| panic!("{what}: missing"));
    assert!(
        (actual - expected).num_milliseconds().abs() < 2000,
        "{what}: {actual} is not {expected}"
    );
}

/// Every setting of the imported key against the options claude-relay-service made it with.
fn check_settings(seeded: &SeededKey, key: &Value) {
    let label = seeded.label.as_str();
    let options = &seeded.options;
    assert_eq!(key["name"], options["name"], "{label}");
    assert_eq!(
        key["description"].as_str(),
        Some(options["description"].as_str().unwrap_or("")),
        "{label}"
    );
    for field in [
        "tokenLimit",
        "concurrencyLimit",
        "rateLimitWindow",
        "rateLimitRequests",
    ] {
        assert_eq!(
            key[field],
            options[field].as_u64().unwrap_or(0),
            "{label}.{field}"
        );
    }
    for field in ["rateLimitCost", "dailyCostLimit", "totalCostLimit"] {
        assert_eq!(
            key[field].as_f64(),
            Some(options[field].as_f64().unwrap_or(0.0)),
            "{label}.{field}"
        );
    }
    assert_eq!(
        key["weeklyCostLimit"], 0.0,
        "{label}: Opus-only, not carried over"
    );
    assert_eq!(
        key["weeklyResetDay"],
        options["weeklyResetDay"].as_u64().unwrap_or(1)
    );
    assert_eq!(
        key["weeklyResetHour"],
        options["weeklyResetHour"].as_u64().unwrap_or(0)
    );
    let permissions = match label {
        "full" => json!(["claude", "openai"]),
        "permission-string" => json!("gemini"),
        // Every service listed is every service.
        _ => json!("all"),
    };
    assert_eq!(key["permissions"], permissions, "{label}.permissions");
    for field in ["restrictedModels", "allowedClients", "tags"] {
        let expected = if options[field].is_null() {
            json!([])
        } else {
            options[field].clone()
        };
        assert_eq!(key[field], expected, "{label}.{field}");
    }
    for field in ["enableModelRestriction", "enableClientRestriction"] {
        assert_eq!(
            key[field],
            options[field].as_bool().unwrap_or(false),
            "{label}.{field}"
        );
    }
    assert_eq!(key["modelRestrictionMode"], "deny", "{label}");
    for field in [
        "claudeAccountId",
        "claudeConsoleAccountId",
        "geminiAccountId",
        "openaiAccountId",
        "azureOpenaiAccountId",
        "bedrockAccountId",
        "droidAccountId",
    ] {
        assert_eq!(key[field], options[field], "{label}.{field}");
    }
    assert_eq!(
        key["createdBy"].as_str(),
        Some(options["createdBy"].as_str().unwrap_or("admin")),
        "{label}"
    );
    assert_eq!(
        instant(&key["createdAt"]),
        Some(seeded.created_at),
        "{label}"
    );

    let (status, is_active) = match label {
        "expired" | "activation-hours-expired" => ("expired", true),
        "disabled" => ("disabled", false),
        // Restored in keyward, it is active, as a restore in claude-relay-service makes it.
        "deleted" => ("deleted", true),
        _ => ("active", true),
    };
    assert_eq!(key["status"], status, "{label}");
    assert_eq!(key["isActive"], is_active, "{label}");
    match seeded.action_at("delete").filter(|_| label == "deleted") {
        Some(at) => {
            assert_near(&key["deletedAt"], at, "deletedAt");
            assert_eq!(key["deletedBy"], "admin");
        }
        None => assert_eq!(key["deletedAt"], Value::Null, "{label}"),
    }

    match label {
        "activation-pending" => {
            assert_eq!(key["expirationMode"], "activation");
            assert_eq!(key["activationDays"], 30);
            assert_eq!(key["activationUnit"], "days");
            assert_eq!(key["isActivated"], false);
            assert_eq!(key["expiresAt"], Value::Null);
        }
        "activation-hours-expired" | "activation-days" => {
            let activated = seeded.action_at("activate").expect("activated");
            let (count, unit, lasts) = if label == "activation-days" {
                (30, "days", Duration::days(30))
            } else {
                (12, "hours", Duration::hours(12))
            };
            assert_eq!(key["expirationMode"], "activation");
            assert_eq!(key["activationDays"], count);
            assert_eq!(key["activationUnit"], unit);
            assert_eq!(key["isActivated"], true);
            assert_near(&key["activatedAt"], activated, "activatedAt");
            assert_near(&key["expiresAt"], activated + lasts, "expiresAt");
        }
        _ => {
            assert_eq!(key["expirationMode"], "fixed", "{label}");
            assert_eq!(
                instant(&key["expiresAt"]),
                instant(&options["expiresAt"]),
                "{label}"
            );
        }
    }
}

/// Totals, today and this month (days and months at claude-relay-service's offset).
fn check_usage(seeded: &SeededKey, key: &Value, now: DateTime<Utc>) {
    let label = seeded.label.as_str();
    let all: Vec<&SeededUsage> = seeded.usage.iter().collect();
    check_bucket(&key["usage"]["total"], &all, &format!("{label} total"));
    let today: Vec<&SeededUsage> = all
        .iter()
        .copied()
        .filter(|u| day_of(u.at) == day_of(now))
        .collect();
    check_bucket(&key["usage"]["daily"], &today, &format!("{label} today"));
    let month = |at: DateTime<Utc>| crs_local(at).format("%Y-%m").to_string();
    let this_month: Vec<&SeededUsage> = all
        .iter()
        .copied()
        .filter(|u| month(u.at) == month(now))
        .collect();
    check_bucket(
        &key["usage"]["monthly"],
        &this_month,
        &format!("{label} month"),
    );
}

/// Usage per day, as the key's holder sees it (`GET /api/v1/self`: the last 30 days).
async fn check_days(app: &TestApp, seeded: &SeededKey, now: DateTime<Utc>) {
    let label = seeded.label.as_str();
    let response = app
        .http
        .get(app.url("/api/v1/self"))
        .bearer_auth(&seeded.api_key)
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK, "{label}");
    let body: Value = response.json().await.expect("JSON");
    let shown: BTreeMap<String, Value> = body["daily"]
        .as_array()
        .expect("days")
        .iter()
        .map(|d| {
            (
                d["date"].as_str().expect("date").to_string(),
                d["total"].clone(),
            )
        })
        .collect();
    assert_eq!(shown.len(), 30);
    let mut expected: BTreeMap<String, Vec<&SeededUsage>> = BTreeMap::new();
    for record in &seeded.usage {
        if day_of(now) - day_of(record.at) < Duration::days(30) {
            expected
                .entry(day_of(record.at).to_string())
                .or_default()
                .push(record);
        }
    }
    assert!(expected.len() >= 2, "{label}: usage on several days");
    for (date, total) in &shown {
        let records = expected.get(date).cloned().unwrap_or_default();
        assert_eq!(total["requests"], records.len() as u64, "{label} {date}");
        assert_eq!(
            total["inputTokens"],
            sum(&records, |u| u.input_tokens),
            "{label} {date}"
        );
        // Per-model costs are whole micro-USD per request in claude-relay-service.
        let rated: f64 = records.iter().map(|u| u.rated_cost).sum();
        assert_cost(
            &total["costNanoUsd"],
            rated,
            500,
            records.len(),
            &format!("{label} {date}"),
        );
    }
}

async fn verify_code(app: &TestApp, secret: &str, client: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"key": secret});
    if let Some(client) = client {
        body["client"] = json!(client);
    }
    app.verify(body).await
}

#[tokio::test]
async fn import_carries_every_key_with_its_secret_limits_and_usage_once() {
    let source = SourceRedis::start();
    let Some(seeded) = seed(&source) else { return };
    let keyward_redis = RedisServer::start();
    let source_before = source.contents();
    source.cli(&["CONFIG", "RESETSTAT"]);

    // Days counted at another offset than keyward's are refused, before anything is written.
    let other_zone = import_crs(
        &keyward_redis,
        &source.url(),
        &[("KEYWARD_ENCRYPTION_KEY", ENCRYPTION_KEY)],
        &[],
    );
    assert_eq!(other_zone.code, 1, "{}", other_zone.stdout);
    assert!(
        other_zone
            .stderr
            .contains("set KEYWARD_TIMEZONE=-07:00 and run again"),
        "{}",
        other_zone.stderr
    );
    assert_eq!(keyward_redis.all_keys(), Vec::<String>::new());
    // A dry run writes nothing either.
    let dry = import_crs(
        &keyward_redis,
        &source.url(),
        &MIGRATION_ENV,
        &["--dry-run"],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(keyward_redis.all_keys(), Vec::<String>::new());

    let first = report(&import_crs(
        &keyward_redis,
        &source.url(),
        &MIGRATION_ENV,
        &["--json"],
    ));
    assert_eq!(first["imported"], seeded.keys.len(), "{first}");
    assert_eq!(first["skipped"], 0);
    // The report reads back what keyward holds: the same usage as the source's.
    let requests: usize = seeded.keys.iter().map(|k| k.usage.len()).sum();
    assert_eq!(first["sourceTotals"]["keys"], seeded.keys.len());
    assert_eq!(first["sourceTotals"]["requests"], requests);
    assert_eq!(first["keywardTotals"], first["sourceTotals"]);
    let by_id = outcomes(&first);
    let full = seeded
        .keys
        .iter()
        .find(|k| k.label == "full")
        .expect("full");
    let left: Vec<&str> = by_id[&full.id]["notCarriedOver"]
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["field"].as_str().expect("field"))
        .collect();
    assert!(
        left.contains(&"weeklyOpusCostLimit") && left.contains(&"serviceRates"),
        "{left:?}"
    );
    let text = import_crs(&keyward_redis, &source.url(), &MIGRATION_ENV, &[]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout
            .contains(&format!("key {} \"full\": unchanged", full.id)),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains(&format!(
        "Imported 0 keys; unchanged {}; exist and differ 0; skipped 0.",
        seeded.keys.len()
    )));
    assert!(text.stdout.contains(" (the same)."), "{}", text.stdout);
    for key in &seeded.keys {
        assert!(!text.stdout.contains(&key.api_key), "no secret is printed");
    }

    // A second run changes nothing and says so.
    let before_second = keyward_redis.contents();
    let second = report(&import_crs(
        &keyward_redis,
        &source.url(),
        &MIGRATION_ENV,
        &["--json"],
    ));
    assert_eq!(second["imported"], 0);
    assert_eq!(second["unchanged"], seeded.keys.len());
    assert_eq!(
        keyward_redis.contents(),
        before_second,
        "the second run wrote nothing"
    );

    // A run cut short after a key's record was written (its index entries and secret lookup
    // not yet) is completed by the next run.
    let plain = seeded
        .keys
        .iter()
        .find(|k| k.label == "plain")
        .expect("plain");
    let plain_hash = hex::encode(Sha256::digest(format!("{}{ENCRYPTION_KEY}", plain.api_key)));
    let lookup = format!("kw:sh:{plain_hash}");
    assert_eq!(keyward_redis.cli(&["GET", &lookup]).trim(), plain.id);
    keyward_redis.cli(&["DEL", &lookup]);
    keyward_redis.cli(&["HDEL", "kw:{idx}:rows", &plain.id]);
    let completing = report(&import_crs(
        &keyward_redis,
        &source.url(),
        &MIGRATION_ENV,
        &["--json"],
    ));
    assert_eq!(outcomes(&completing)[&plain.id]["outcome"], "unchanged");
    assert_eq!(keyward_redis.cli(&["GET", &lookup]).trim(), plain.id);
    // Its index row, at the record's revision and creation time.
    let created_ms =
        keyward_redis.cli(&["HGET", &format!("kw:{{k:{}}}:key", plain.id), "createdAt"]);
    assert!(keyward_redis
        .cli(&["HGET", "kw:{idx}:rows", &plain.id])
        .starts_with(&format!("1:{}\t", created_ms.trim())));

    // The source only answered reads, and is as it was.
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
            "the import sent `{command}`"
        );
    }
    assert_eq!(source.contents(), source_before, "the source is unchanged");

    // Without the expiry sweep, which would disable the expired keys (as claude-relay-service's
    // cleanup job does): they are compared as imported.
    let app = TestApp::spawn_on(
        keyward_redis,
        &[
            MIGRATION_ENV[0],
            MIGRATION_ENV[1],
            ("KEYWARD_EXPIRY_SWEEP_SECS", "0"),
        ],
    )
    .await;
    let now = Utc::now();
    for key in &seeded.keys {
        let imported = app.get_key(&key.id).await;
        check_settings(key, &imported);
        check_usage(key, &imported, now);
        // Every old secret verifies, or is refused for what the key is.
        let client = (key.label == "full").then_some("claude-cli/1.0.83 (external, cli)");
        let (status, body) = verify_code(&app, &key.api_key, client).await;
        let expected = match key.label.as_str() {
            "expired" | "activation-hours-expired" => Some("expired"),
            "disabled" => Some("disabled"),
            "deleted" => Some("not_found"),
            _ => None,
        };
        match expected {
            None => {
                assert_eq!(status, StatusCode::OK, "{}: {body}", key.label);
                assert_eq!(body["keyId"], key.id.as_str());
            }
            Some(code) => assert_eq!(body["error"]["code"], code, "{}: {body}", key.label),
        }
    }
    let regenerated = seeded
        .keys
        .iter()
        .find(|k| k.label == "regenerated")
        .expect("regenerated");
    let replaced = regenerated
        .replaced_api_key
        .as_deref()
        .expect("the replaced secret");
    assert_eq!(
        verify_code(&app, replaced, None).await.1["error"]["code"],
        "not_found"
    );
    check_days(&app, full, now).await;
    check_days(&app, plain, now).await;

    // Each import is in the audit log, once (the later runs wrote nothing).
    let (status, audit) = app
        .admin(
            Method::GET,
            "/api/v1/admin/audit?action=import&limit=100",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let entries = audit["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), seeded.keys.len(), "{audit}");
    assert_eq!(entries[0]["actor"], "keyward import crs");

    // Listed, tagged and bound as keys made in keyward are.
    let (_, tagged) = app
        .admin(Method::GET, "/api/v1/admin/keys?tag=team-a", None)
        .await;
    assert_eq!(tagged["total"], 1, "{tagged}");
    let (_, listed) = app
        .admin(Method::GET, "/api/v1/admin/keys?perPage=100", None)
        .await;
    assert_eq!(
        listed["total"],
        seeded.keys.len() - 1,
        "every key but the deleted one"
    );
    let (_, accounts) = app.admin(Method::GET, "/api/v1/admin/accounts", None).await;
    assert!(
        accounts.to_string().contains("group:droid-group-1"),
        "{accounts}"
    );
    // A deleted key is restored with its old secret.
    let deleted = seeded
        .keys
        .iter()
        .find(|k| k.label == "deleted")
        .expect("deleted");
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/keys/{}/restore", deleted.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        verify_code(&app, &deleted.api_key, None).await.0,
        StatusCode::OK
    );

    // A change made in keyward since is kept, and named.
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{}", plain.id),
            Some(json!({"name": "renamed in keyward"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let third = report(&import_crs(
        &app.redis,
        &source.url(),
        &MIGRATION_ENV,
        &["--json"],
    ));
    assert_eq!(third["imported"], 0, "{third}");
    let plain_outcome = &outcomes(&third)[&plain.id];
    assert_eq!(plain_outcome["outcome"], "unchanged");
    assert_eq!(plain_outcome["changedInKeyward"], json!(["name"]));
    assert_eq!(app.get_key(&plain.id).await["name"], "renamed in keyward");

    // Data changed in claude-relay-service since the import (its admin renamed a key; a key
    // took another request) is not written over keyward's: named, and left.
    let renamed = seeded
        .keys
        .iter()
        .find(|k| k.label == "permission-string")
        .expect("key");
    let used = seeded
        .keys
        .iter()
        .find(|k| k.label == "permission-list")
        .expect("key");
    source.cli(&[
        "HSET",
        &format!("apikey:{}", renamed.id),
        "name",
        "renamed-in-crs",
    ]);
    source.cli(&[
        "HINCRBY",
        &format!("usage:{}", used.id),
        "totalRequests",
        "1",
    ]);
    let fourth = report(&import_crs(
        &app.redis,
        &source.url(),
        &MIGRATION_ENV,
        &["--json"],
    ));
    assert_eq!(fourth["differs"], 2, "{fourth}");
    let fourth = outcomes(&fourth);
    assert_eq!(fourth[&renamed.id]["outcome"], "differs");
    assert_eq!(fourth[&renamed.id]["differingFields"], json!(["name"]));
    assert_eq!(fourth[&used.id]["differingFields"], json!(["usage"]));
    assert_eq!(app.get_key(&renamed.id).await["name"], "permission-string");
    assert_eq!(app.get_key(&used.id).await["usage"]["total"]["requests"], 0);

    // keyward refuses to import with another encryption key than its keys were made with.
    let other_key = import_crs(
        &app.redis,
        &source.url(),
        &[
            ("KEYWARD_ENCRYPTION_KEY", "another-encryption-key-32-chars!"),
            ("KEYWARD_TIMEZONE", "-07:00"),
        ],
        &[],
    );
    assert_eq!(other_key.code, 1);
    assert!(
        other_key
            .stderr
            .contains("is not the one the keys in this Redis were"),
        "{}",
        other_key.stderr
    );
}

/// A key as releases before 1.1.314 wrote it (by hand here; no Node needed): permissions as a
/// plain string, usage under the older counter names, only the older `apikey_hash:` lookup.
fn older_release_key(source: &SourceRedis) -> (&'static str, String) {
    let id = "0b6f3c8e-8a57-4a5e-9a39-3c5f3ad0e111";
    let secret = format!("cr_{}", "5".repeat(64));
    let hash = hex::encode(Sha256::digest(format!("{secret}{ENCRYPTION_KEY}")));
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
    ]);
    let lookup = format!("apikey_hash:{hash}");
    source.cli(&["HSET", &lookup, "id", id, "name", "old", "isActive", "true"]);
    source.cli(&[
        "HSET",
        &format!("usage:{id}"),
        "inputTokens",
        "600",
        "outputTokens",
        "300",
        "requests",
        "4",
    ]);
    source.cli(&["SET", &format!("usage:cost:total:{id}"), "1.5e-7"]);
    (id, secret)
}

#[tokio::test]
async fn keys_of_older_releases_import_and_verify() {
    let source = SourceRedis::start();
    let (id, secret) = older_release_key(&source);
    let keyward_redis = RedisServer::start();
    let run = report(&import_crs(
        &keyward_redis,
        &source.url(),
        &MIGRATION_ENV,
        &["--json"],
    ));
    assert_eq!(run["imported"], 1, "{run}");
    assert!(
        run["timezoneWarning"]
            .as_str()
            .is_some_and(|w| w.contains("does not tell")),
        "no recent usage to tell the offset from: {run}"
    );
    let app = TestApp::spawn_on(keyward_redis, &MIGRATION_ENV).await;
    let key = app.get_key(id).await;
    assert_eq!(key["permissions"], "claude");
    assert_eq!(key["dailyCostLimit"], 5.0);
    assert_eq!(key["expiresAt"], "2099-01-01T00:00:00.000Z");
    assert_eq!(key["usage"]["total"]["requests"], 4);
    assert_eq!(key["usage"]["total"]["allTokens"], 900);
    assert_eq!(key["usage"]["total"]["costNanoUsd"], 150);
    let (status, body) = app
        .verify(json!({"key": secret, "service": "claude"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.verify(json!({"key": secret, "service": "gemini"}))
            .await
            .1["error"]["code"],
        "permission_denied"
    );
}

#[test]
fn keywards_redis_down_is_a_clear_error_and_the_source_untouched() {
    let source = SourceRedis::start();
    older_release_key(&source);
    let before = source.contents();
    let mut keyward_redis = RedisServer::start();
    keyward_redis.kill();
    let run = import_crs(
        &keyward_redis,
        &source.url(),
        &[
            MIGRATION_ENV[0],
            MIGRATION_ENV[1],
            ("KEYWARD_REDIS_TIMEOUT_MS", "500"),
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("keyward's Redis (KEYWARD_REDIS_URL) failed before anything was written"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(source.contents(), before);
}
