//! The per-key request log (`GET /api/v1/admin/keys/{id}/requests`), the CSV exports
//! (`keys.csv`, `requests.csv`) and the key page's recent requests and hourly chart.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use fantoccini::Locator;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::dashboard::PASSWORD;
use crate::support::browser::Browser;
use crate::support::TestApp;

fn usage(id: &str, model: &str, account: Option<&str>, tokens: Value) -> Value {
    let mut body = json!({"keyId": id, "model": model, "usage": tokens});
    if let Some(account) = account {
        body["accountId"] = json!(account);
    }
    body
}

async fn record(app: &TestApp, body: Value) -> Value {
    let (status, answer) = app.record_usage(body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

/// Records `n` small usages; the i-th (from 1) has `i` input tokens.
async fn record_numbered(app: &TestApp, id: &str, n: u64) {
    for i in 1..=n {
        record(
            app,
            usage(
                id,
                "claude-sonnet-4-5-20250929",
                Some("acct-1"),
                json!({"input_tokens": i, "output_tokens": 1}),
            ),
        )
        .await;
    }
}

async fn log_page(app: &TestApp, id: &str, query: &str) -> (StatusCode, Value) {
    app.admin(
        Method::GET,
        &format!("/api/v1/admin/keys/{id}/requests{query}"),
        None,
    )
    .await
}

/// The whole log, newest first, in one read.
async fn whole_log(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, body) = log_page(app, id, "?limit=1000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["next"], Value::Null);
    body["requests"].as_array().expect("requests").clone()
}

fn input_tokens(entries: &[Value]) -> Vec<u64> {
    entries
        .iter()
        .map(|e| e["inputTokens"].as_u64().expect("inputTokens"))
        .collect()
}

fn at(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn usage_records_appear_newest_first_with_exact_fields() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "logged"})).await;
    let before = Utc::now();
    let first = record(
        &app,
        usage(
            &id,
            "claude-sonnet-4-5-20250929",
            Some("acct-a"),
            json!({"input_tokens": 1000, "output_tokens": 500, "cache_creation_input_tokens": 5000,
                   "cache_read_input_tokens": 4000,
                   "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 3000}}),
        ),
    )
    .await;
    // An alias is logged as sent, with the price row it resolved to; no account is null.
    let second = record(
        &app,
        usage(
            &id,
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            None,
            json!({"input_tokens": 7, "output_tokens": 3}),
        ),
    )
    .await;
    let after = Utc::now();

    let log = whole_log(&app, &id).await;
    assert_eq!(log.len(), 2);
    let (newest, oldest) = (&log[0], &log[1]);
    let fields = |entry: &Value| {
        let mut names: Vec<String> = entry.as_object().expect("object").keys().cloned().collect();
        names.sort();
        names
    };
    assert_eq!(
        fields(newest),
        [
            "accountId",
            "at",
            "cacheCreateTokens",
            "cacheReadTokens",
            "cost",
            "costNanoUsd",
            "id",
            "inputTokens",
            "model",
            "outputTokens",
            "pricedAs"
        ]
    );
    assert_eq!(
        newest["model"],
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    );
    assert_eq!(newest["pricedAs"], "claude-sonnet-4-5-20250929");
    assert_eq!(newest["accountId"], Value::Null);
    assert_eq!(
        (
            newest["inputTokens"].clone(),
            newest["outputTokens"].clone()
        ),
        (json!(7), json!(3))
    );
    assert_eq!(newest["costNanoUsd"], second["costNanoUsd"]);
    assert_eq!(newest["cost"], second["costUsd"]);

    assert_eq!(oldest["model"], "claude-sonnet-4-5-20250929");
    assert_eq!(oldest["pricedAs"], "claude-sonnet-4-5-20250929");
    assert_eq!(oldest["accountId"], "acct-a");
    assert_eq!(oldest["inputTokens"], 1000);
    assert_eq!(oldest["outputTokens"], 500);
    assert_eq!(oldest["cacheCreateTokens"], 5000);
    assert_eq!(oldest["cacheReadTokens"], 4000);
    assert_eq!(oldest["costNanoUsd"], 37_200_000);
    assert_eq!(oldest["costNanoUsd"], first["costNanoUsd"]);
    assert_eq!(oldest["cost"], 0.0372);

    let (t_old, t_new) = (at(&oldest["at"]), at(&newest["at"]));
    let margin = chrono::Duration::milliseconds(5);
    assert!(before - margin <= t_old && t_old <= t_new && t_new <= after + margin);
    assert!(oldest["id"].as_str() < newest["id"].as_str() || t_old < t_new);
}

#[tokio::test]
async fn paging_with_before_returns_every_entry_once_even_while_new_ones_arrive() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "paged"})).await;
    record_numbered(&app, &id, 23).await;

    let mut seen = Vec::new();
    let (status, page) = log_page(&app, &id, "?limit=7").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    seen.extend(page["requests"].as_array().expect("requests").clone());
    let mut next = page["next"].as_str().map(str::to_string);
    // Records arriving while an admin pages go to the front; the cursor's pages do not move.
    record_numbered(&app, &id, 2).await;
    let mut pages = 1;
    while let Some(cursor) = next {
        let (status, page) = log_page(&app, &id, &format!("?limit=7&before={cursor}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let entries = page["requests"].as_array().expect("requests");
        assert!(!entries.is_empty(), "a next cursor leads to entries");
        seen.extend(entries.clone());
        next = page["next"].as_str().map(str::to_string);
        pages += 1;
    }
    assert_eq!(pages, 4, "23 entries in pages of 7");
    assert_eq!(input_tokens(&seen), (1..=23).rev().collect::<Vec<u64>>());
    // The whole log: the two new ones first, then the same 23.
    let whole = whole_log(&app, &id).await;
    assert_eq!(input_tokens(&whole[..2]), [2, 1]);
    assert_eq!(whole[2..], seen[..]);
}

#[tokio::test]
async fn the_log_keeps_only_the_newest_entries_and_the_hours_count_them_all() {
    let app = TestApp::spawn_with(&[("KEYWARD_REQUEST_LOG_PER_KEY", "5")]).await;
    let (id, _) = app.create_key(json!({"name": "bounded"})).await;
    record_numbered(&app, &id, 12).await;
    let log = whole_log(&app, &id).await;
    assert_eq!(input_tokens(&log), [12, 11, 10, 9, 8]);
    let stream = format!("kw:{{k:{id}}}:log");
    assert_eq!(app.redis.cli(&["XLEN", &stream]).trim(), "5");
    // Today's hour buckets count every record, not only the ones the log still holds.
    let today = Utc::now().format("%Y-%m-%d").to_string();
    let hours = app
        .redis
        .cli(&["HGETALL", &format!("kw:{{k:{id}}}:u:h:{today}")]);
    let hours: Vec<&str> = hours.lines().collect();
    let requests: u64 = hours
        .chunks(2)
        .filter(|pair| pair[0].ends_with(":r"))
        .map(|pair| pair[1].parse::<u64>().expect("a count"))
        .sum();
    assert_eq!(requests, 12, "{hours:?}");
    let key = app.get_key(&id).await;
    assert_eq!(key["usage"]["total"]["requests"], 12);
}

#[tokio::test]
async fn an_instance_whose_clock_is_behind_still_logs_its_own_time() {
    // This instance's clock runs an hour ahead; a second one on the same Redis does not, so
    // its records come after entries stamped later than its own clock.
    let app = TestApp::spawn_with(&[("KEYWARD_TEST_CLOCK_OFFSET_SECS", "3600")]).await;
    let (id, _) = app.create_key(json!({"name": "two clocks"})).await;
    record_numbered(&app, &id, 1).await;
    let second = app.second_instance();
    let body = usage(
        &id,
        "claude-sonnet-4-5-20250929",
        Some("acct-2"),
        json!({"input_tokens": 2, "output_tokens": 1}),
    );
    let response = app
        .http
        .post(second.url("/api/v1/usage"))
        .bearer_auth(crate::support::app::SERVICE_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let now = Utc::now();
    let log = whole_log(&app, &id).await;
    // Newest recorded first, each with the time its instance recorded it at.
    assert_eq!(input_tokens(&log), [2, 1]);
    let (behind, ahead) = (at(&log[0]["at"]), at(&log[1]["at"]));
    assert!((now - behind).num_seconds().abs() < 60, "{behind} vs {now}");
    assert!(
        (ahead - now - chrono::Duration::hours(1))
            .num_seconds()
            .abs()
            < 60,
        "{ahead}"
    );
    // Paging past the out-of-order entry still finds the older one.
    let (_, page) = log_page(&app, &id, "?limit=1").await;
    let cursor = page["next"].as_str().expect("a next page");
    let (_, older) = log_page(&app, &id, &format!("?limit=1&before={cursor}")).await;
    assert_eq!(older["requests"][0]["inputTokens"], 1);
    assert_eq!(older["next"], Value::Null);
}

#[tokio::test]
async fn hours_are_counted_on_the_configured_zones_clock() {
    let app = TestApp::spawn_with(&[("KEYWARD_TIMEZONE", "+05:30")]).await;
    let (id, _) = app.create_key(json!({"name": "zoned"})).await;
    let zone = chrono::FixedOffset::east_opt(5 * 3600 + 1800).expect("offset");
    let local_before = Utc::now().with_timezone(&zone);
    record_numbered(&app, &id, 3).await;
    let local_after = Utc::now().with_timezone(&zone);
    let found = [local_before, local_after].iter().any(|local| {
        let name = format!("kw:{{k:{id}}}:u:h:{}", local.format("%Y-%m-%d"));
        let field = format!(
            "{}:r",
            local.format("%H").to_string().parse::<u32>().unwrap_or(99)
        );
        app.redis.cli(&["HGET", &name, &field]).trim() == "3"
    });
    assert!(found, "no bucket for {local_before} with 3 requests");
}

#[tokio::test]
async fn a_repeated_request_id_is_logged_once() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "idempotent"})).await;
    let mut body = usage(
        &id,
        "claude-sonnet-4-5-20250929",
        Some("acct-1"),
        json!({"input_tokens": 10, "output_tokens": 1}),
    );
    body["requestId"] = json!("req-1");
    assert_eq!(record(&app, body.clone()).await["duplicate"], false);
    assert_eq!(record(&app, body).await["duplicate"], true);
    assert_eq!(whole_log(&app, &id).await.len(), 1);
}

#[tokio::test]
async fn a_log_without_entries_is_empty_and_a_zero_length_log_keeps_none() {
    let app = TestApp::spawn_with(&[("KEYWARD_REQUEST_LOG_PER_KEY", "0")]).await;
    let (id, _) = app.create_key(json!({"name": "unlogged"})).await;
    assert!(whole_log(&app, &id).await.is_empty());
    record_numbered(&app, &id, 2).await;
    assert!(whole_log(&app, &id).await.is_empty());
    assert_eq!(app.get_key(&id).await["usage"]["total"]["requests"], 2);
}

#[tokio::test]
async fn bad_limit_or_before_is_a_400_naming_it_and_an_unknown_key_404() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "checked"})).await;
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=ten", "limit"),
        ("?before=yesterday", "before"),
        ("?before=1-2-3", "before"),
        ("?cursor=1-0", "cursor"),
    ] {
        let (status, body) = log_page(&app, &id, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    for path in [
        "/api/v1/admin/keys/00000000-0000-4000-8000-000000000000/requests",
        "/api/v1/admin/keys/not-a-key/requests",
        "/api/v1/admin/keys/00000000-0000-4000-8000-000000000000/requests.csv",
    ] {
        let (status, body) = app.admin(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
}

#[tokio::test]
async fn erasing_a_key_removes_its_log_and_hours() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "erased"})).await;
    record_numbered(&app, &id, 3).await;
    let tag = format!("{{k:{id}}}");
    let held = || {
        app.redis
            .all_keys()
            .into_iter()
            .filter(|k| k.contains(&tag))
            .collect::<Vec<_>>()
    };
    assert!(held().iter().any(|k| k.ends_with(":log")), "{:?}", held());
    assert!(held().iter().any(|k| k.contains(":u:h:")), "{:?}", held());
    // A soft delete keeps the log (the key can be restored); an erase removes everything.
    let (status, _) = app
        .admin(Method::DELETE, &format!("/api/v1/admin/keys/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(whole_log(&app, &id).await.len(), 3);
    let (status, _) = app
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/keys/{id}?permanent=true"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(held(), Vec::<String>::new());
    assert_eq!(log_page(&app, &id, "").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_log_entry_takes_about_a_hundred_bytes() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "measured"})).await;
    const ENTRIES: u64 = 300;
    record_numbered(&app, &id, ENTRIES).await;
    let stream = format!("kw:{{k:{id}}}:log");
    let bytes: u64 = app
        .redis
        .cli(&["MEMORY", "USAGE", &stream, "SAMPLES", "0"])
        .trim()
        .parse()
        .expect("a size");
    let per_entry = bytes / ENTRIES;
    println!("request log: {bytes} bytes for {ENTRIES} entries, {per_entry} bytes each");
    // Model, account, four token counts and the cost; field names and timestamps cost
    // next to nothing in a stream's listpacks.
    assert!(per_entry < 120, "{per_entry} bytes per entry");
}

/// An export, read whole, and parsed with the csv crate (which drops the byte order mark).
async fn export(app: &TestApp, path: &str) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let response = app
        .http
        .get(app.url(path))
        .bearer_auth(crate::support::app::ADMIN_TOKEN)
        .timeout(std::time::Duration::from_secs(300))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(response.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .starts_with("attachment; filename="));
    let body = response.bytes().await.expect("body");
    assert!(
        body.starts_with("\u{feff}".as_bytes()),
        "UTF-8 byte order mark"
    );
    let mut reader = csv::Reader::from_reader(&body[3..]);
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            let record = r.expect("a CSV record");
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_string))
                .collect()
        })
        .collect();
    (header, rows)
}

/// Every key of a list query through the JSON API, in its order.
async fn listed(app: &TestApp, query: &str) -> Vec<Value> {
    let mut keys = Vec::new();
    for page in 1.. {
        // A page of 1000 keys takes seconds in a debug build on a loaded machine.
        let response = app
            .http
            .get(app.url(&format!(
                "/api/v1/admin/keys?perPage=1000&page={page}{query}"
            )))
            .bearer_auth(crate::support::app::ADMIN_TOKEN)
            .timeout(std::time::Duration::from_secs(120))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json");
        let batch = body["keys"].as_array().expect("keys").clone();
        let done = batch.len() < 1000;
        keys.extend(batch);
        if done {
            return keys;
        }
    }
    unreachable!()
}

/// A CSV cell compared with the JSON field of the same name.
fn same(cell: &str, json: &Value) -> bool {
    match json {
        Value::Null => cell.is_empty(),
        Value::String(text) if text.contains('T') && text.ends_with('Z') => {
            DateTime::parse_from_rfc3339(cell).is_ok_and(|t| t.with_timezone(&Utc) == at(json))
        }
        Value::String(text) => cell == text,
        Value::Number(n) if n.is_f64() => cell
            .parse::<f64>()
            .is_ok_and(|c| (c - n.as_f64().unwrap_or(0.0)).abs() < 1e-9),
        Value::Number(n) => cell == n.to_string(),
        // Tags are joined with "; ", services as the list shows them ("claude,gemini").
        Value::Array(items) => {
            let joined: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            cell == joined.join("; ") || cell == joined.join(",")
        }
        Value::Bool(b) => cell.parse::<bool>() == Ok(*b),
        Value::Object(_) => false,
    }
}

/// The CSV columns whose JSON field has another name or place.
fn json_field<'a>(key: &'a Value, column: &str) -> &'a Value {
    match column {
        "totalRequests" => &key["usage"]["total"]["requests"],
        "totalTokens" => &key["usage"]["total"]["allTokens"],
        "rateLimitWindow" => &key["rateLimitWindow"],
        other => &key[other],
    }
}

#[tokio::test]
async fn ten_thousand_keys_export_as_csv_like_the_json_list() {
    let app = TestApp::spawn().await;
    for batch in 0..20 {
        let fields = if batch % 4 == 0 {
            json!({"count": 500, "namePrefix": format!("team{batch:02}"), "tags": ["finance"],
                   "dailyCostLimit": 2.5, "claudeAccountId": "acct-x"})
        } else {
            json!({"count": 500, "namePrefix": format!("team{batch:02}")})
        };
        let (status, body) = app
            .admin(Method::POST, "/api/v1/admin/keys/batch", Some(fields))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (id, _) = app
        .create_key(
            json!({"name": "=HYPERLINK(\"http://x\")", "description": "+1 -1 @a",
                           "tags": ["finance"]}),
        )
        .await;
    record(
        &app,
        usage(
            &id,
            "claude-sonnet-4-5-20250929",
            Some("acct-x"),
            json!({"input_tokens": 1000, "output_tokens": 500}),
        ),
    )
    .await;

    let (header, rows) = export(&app, "/api/v1/admin/keys.csv").await;
    assert_eq!(header.len(), 41);
    let json = listed(&app, "").await;
    assert_eq!(rows.len(), 10_001);
    assert_eq!(json.len(), 10_001);
    for (row, key) in rows.iter().zip(&json) {
        for column in &header {
            let cell = &row[column];
            let cell = cell
                .strip_prefix('\'')
                .filter(|c| c.starts_with(['=', '+', '-', '@']));
            let cell = cell.unwrap_or(&row[column]);
            assert!(
                same(cell, json_field(key, column)),
                "{column}: CSV `{}` vs JSON {}",
                row[column],
                json_field(key, column)
            );
        }
    }
    // Formula cells are prefixed; the rest are as typed.
    let hostile = rows
        .iter()
        .find(|r| r["id"] == id)
        .expect("the hostile key");
    assert_eq!(hostile["name"], "'=HYPERLINK(\"http://x\")");
    assert_eq!(hostile["description"], "'+1 -1 @a");
    assert_eq!(hostile["totalCost"], "0.0105");

    // The list's filters and sort apply: the same keys in the same order.
    let query = "&tag=finance&sort=name&order=desc&status=active";
    let (_, rows) = export(&app, &format!("/api/v1/admin/keys.csv?{}", &query[1..])).await;
    let json = listed(&app, query).await;
    assert_eq!(json.len(), 2_501);
    let ids =
        |rows: &[HashMap<String, String>]| rows.iter().map(|r| r["id"].clone()).collect::<Vec<_>>();
    let json_ids: Vec<String> = json
        .iter()
        .map(|k| k["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids(&rows), json_ids);

    let (status, body) = app
        .admin(Method::GET, "/api/v1/admin/keys.csv?status=asleep", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "status");
}

#[tokio::test]
async fn requests_csv_matches_the_json_log_and_defuses_formulas() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "exported"})).await;
    record_numbered(&app, &id, 4).await;
    record(
        &app,
        usage(
            &id,
            "=cmd|' /C calc'!A0",
            Some("@acct"),
            json!({"input_tokens": 5, "output_tokens": 5}),
        ),
    )
    .await;
    record(
        &app,
        usage(
            &id,
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            Some("-acct"),
            json!({"input_tokens": 6, "output_tokens": 0, "cache_read_input_tokens": 40}),
        ),
    )
    .await;
    let (header, rows) = export(&app, &format!("/api/v1/admin/keys/{id}/requests.csv")).await;
    assert_eq!(
        header,
        [
            "at",
            "model",
            "pricedAs",
            "accountId",
            "inputTokens",
            "outputTokens",
            "cacheCreateTokens",
            "cacheReadTokens",
            "cost"
        ]
    );
    let log = whole_log(&app, &id).await;
    assert_eq!(rows.len(), log.len());
    assert_eq!(rows.len(), 6);
    for (row, entry) in rows.iter().zip(&log) {
        let unprefixed = |column: &str| {
            let cell = &row[column];
            cell.strip_prefix('\'')
                .map(str::to_string)
                .unwrap_or(cell.clone())
        };
        assert!(same(&row["at"], &entry["at"]), "{row:?} vs {entry}");
        assert_eq!(unprefixed("model"), entry["model"].as_str().expect("model"));
        assert!(same(&row["pricedAs"], &entry["pricedAs"]));
        assert!(same(&unprefixed("accountId"), &entry["accountId"]));
        for column in [
            "inputTokens",
            "outputTokens",
            "cacheCreateTokens",
            "cacheReadTokens",
        ] {
            assert_eq!(row[column], entry[column].to_string(), "{column}");
        }
        assert!(same(&row["cost"], &entry["cost"]), "{row:?} vs {entry}");
    }
    assert_eq!(rows[0]["accountId"], "'-acct");
    assert_eq!(rows[1]["model"], "'=cmd|' /C calc'!A0");
    assert_eq!(rows[1]["accountId"], "'@acct");
    assert_eq!(rows[0]["cacheReadTokens"], "40");
}

#[tokio::test]
async fn a_viewer_may_read_the_log_and_the_exports() {
    let app = crate::dashboard::spawn().await;
    let (id, _) = app.create_key(json!({"name": "viewed"})).await;
    crate::roles::add_admin(&app, "vera", "viewer", "viewer-password-1");
    let (client, _) = crate::roles::signed_in(&app, "vera", "viewer-password-1").await;
    for path in [
        format!("/api/v1/admin/keys/{id}/requests"),
        format!("/api/v1/admin/keys/{id}/requests.csv"),
        "/api/v1/admin/keys.csv".to_string(),
    ] {
        let response = client.get(app.url(&path)).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // The list's "Export CSV" link carries its filters and sort (not its page).
    let page = client
        .get(app.url("/keys?tag=blue&status=active&sort=name&order=asc&perPage=50&page=2"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains(r#"href="/api/v1/admin/keys.csv?sort=name&#38;order=asc&#38;tag=blue&#38;status=active""#),
        "{page}"
    );
    let anonymous = reqwest::Client::new()
        .get(app.url("/api/v1/admin/keys.csv"))
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_key_page_shows_recent_requests_pages_older_ones_and_charts_today_by_hour() {
    let app = TestApp::spawn_with(&[
        ("KEYWARD_ADMIN_PASSWORD", PASSWORD),
        ("KEYWARD_TIMEZONE", "Asia/Shanghai"),
    ])
    .await;
    let (id, _) = app.create_key(json!({"name": "watched"})).await;
    record_numbered(&app, &id, 24).await;
    record(
        &app,
        usage(
            &id,
            "<b>bold</b>",
            Some("acct-9"),
            json!({"input_tokens": 99, "output_tokens": 1}),
        ),
    )
    .await;
    let browser = Browser::start().await;
    browser.log_in(&app, PASSWORD).await;
    browser.goto(&app, &format!("/keys/{id}")).await;
    browser.wait_for_path(|p| p.starts_with("/keys/")).await;

    let rows = browser
        .client
        .find_all(Locator::Css("[data-testid=recent-requests] tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 20);
    let newest = rows[0].text().await.expect("text");
    // The model is text, not markup; times carry the zone (China Standard Time).
    assert!(newest.contains("<b>bold</b>"), "{newest}");
    assert!(newest.contains("CST"), "{newest}");
    assert!(newest.contains("acct-9"), "{newest}");
    assert!(
        browser
            .exists(&format!("a[href='/api/v1/admin/keys/{id}/requests.csv']"))
            .await
    );

    // Today's hours: the chart is drawn, its bars add up to every request of today.
    browser
        .client
        .wait()
        .for_element(Locator::Css("#hourly-request-chart"))
        .await
        .expect("hourly chart");
    let drawn = browser
        .run(
            "const c = document.getElementById('hourly-request-chart');
             const chart = window.Chart && Chart.getChart(c);
             if (!chart) return null;
             return {labels: chart.data.labels.length,
                     requests: chart.data.datasets[0].data.reduce((a, b) => a + b, 0)};",
        )
        .await;
    assert_eq!(drawn, json!({"labels": 24, "requests": 25}));
    browser.full_screenshot("key-recent-requests").await;
    assert!(browser
        .text("[data-testid=hourly-summary]")
        .await
        .starts_with("25 requests"));

    // "Older" shows the rest: five more rows, the first ones recorded, and a way back.
    browser.click("[data-testid=older-requests]").await;
    browser.wait_for_path(|p| p.contains("before=")).await;
    let older = browser
        .client
        .find_all(Locator::Css("[data-testid=recent-requests] tbody tr"))
        .await
        .expect("rows");
    assert_eq!(older.len(), 5);
    let last = older[4].text().await.expect("text");
    assert!(last.contains("acct-1"), "{last}");
    assert!(!browser.exists("[data-testid=older-requests]").await);
    assert!(browser.exists("a[href$='#recent-requests']").await);
    browser.close().await;
}

/// keyward's resident memory now (kB), from /proc.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

/// A measurement, not part of the suite (it creates 100,000 keys, minutes in a debug build):
/// `cargo test --test api request_log::a_hundred -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn a_hundred_thousand_keys_export_in_bounded_memory() {
    const KEYS: usize = 100_000;
    let app = TestApp::spawn().await;
    for batch in 0..KEYS / 500 {
        let fields = json!({"count": 500, "namePrefix": format!("bulk{batch:03}"), "description": "x".repeat(200)});
        let (status, body) = app
            .admin(Method::POST, "/api/v1/admin/keys/batch", Some(fields))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let pid = app.pid();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let before = rss_kb(pid);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_kb(pid));
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let started = std::time::Instant::now();
    let response = app
        .http
        .get(app.url("/api/v1/admin/keys.csv"))
        .bearer_auth(crate::support::app::ADMIN_TOKEN)
        .timeout(std::time::Duration::from_secs(1800))
        .send()
        .await
        .expect("sent");
    // Read as it streams, counting lines, so the test holds no copy either.
    let mut lines = 0usize;
    let mut bytes = 0usize;
    let mut body = response;
    while let Some(chunk) = body.chunk().await.expect("a chunk") {
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        bytes += chunk.len();
    }
    let took = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.await.expect("sampler");
    println!(
        "keys.csv: {KEYS} keys, {lines} lines, {bytes} bytes in {took:.1?}; keyward RSS {before} kB before, peak {peak} kB during (+{} kB)",
        peak.saturating_sub(before)
    );
    assert_eq!(lines, KEYS + 1);
    // The export is ~{bytes} bytes; holding it whole would add at least that much.
    assert!(
        (peak.saturating_sub(before) as usize) * 1024 < bytes / 4,
        "memory grew with the export"
    );
}
