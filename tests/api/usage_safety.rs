//! Usage records are all or nothing: bounded counters (a record that would pass 2^53 - 1 is
//! refused whole), and `requestId` makes a record idempotent across retries and repeats.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::TestApp;

/// The per-field cap of one report (10^9 tokens).
const MAX_TOKENS: u64 = 1_000_000_000;
/// The bound of every usage counter: 2^53 - 1.
const MAX_COUNTER: i64 = (1 << 53) - 1;
/// claude-opus-4-1 ($15 / $75 / $30 1h write / $1.50 read per million), the dearest shipped price.
const OPUS: &str = "claude-opus-4-1-20250805";
/// Cost of one `max_usage()` report at the opus price, in nano-USD.
const MAX_REPORT_COST: i64 = 1_000_000_000 * (15_000 + 75_000 + 30_000 + 1_500);

/// The largest report validation accepts: every count at the cap, cache writes all 1-hour.
fn max_usage() -> Value {
    json!({"input_tokens": MAX_TOKENS, "output_tokens": MAX_TOKENS,
           "cache_creation_input_tokens": MAX_TOKENS, "cache_read_input_tokens": MAX_TOKENS,
           "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": MAX_TOKENS}})
}

fn small_usage() -> Value {
    json!({"input_tokens": 1000, "output_tokens": 10})
}

fn report(id: &str, account: &str, model: &str, usage: Value) -> Value {
    json!({"keyId": id, "accountId": account, "model": model, "usage": usage})
}

/// Everything stored under names containing `part` (sorted, with contents), except lease sets,
/// whose release is checked on its own.
fn dump(app: &TestApp, part: &str) -> Vec<String> {
    let mut names: Vec<String> = app
        .redis
        .all_keys()
        .into_iter()
        .filter(|name| name.contains(part) && !name.ends_with(":leases"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let kind = app.redis.cli(&["TYPE", &name]);
            let contents = match kind.trim() {
                "zset" => app.redis.cli(&["ZRANGE", &name, "0", "-1", "WITHSCORES"]),
                "hash" => {
                    let mut lines: Vec<String> = app
                        .redis
                        .cli(&["HGETALL", &name])
                        .lines()
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                        .chunks(2)
                        .map(|pair| pair.join("="))
                        .collect();
                    lines.sort();
                    lines.join(" ")
                }
                other => other.to_string(),
            };
            format!("{name} -> {contents}")
        })
        .collect()
}

/// The index slot's ledger: sort orders, cost index, account usage, known accounts.
fn ledger(app: &TestApp) -> Vec<String> {
    dump(app, "{idx}:")
        .into_iter()
        .filter(|line| {
            [":lastused ", ":cost:", ":acct:", ":accounts ", ":reqs:"]
                .iter()
                .any(|part| line.contains(part))
        })
        .collect()
}

fn key_side(app: &TestApp, id: &str) -> Vec<String> {
    dump(app, &format!("{{k:{id}}}"))
}

async fn account_requests(app: &TestApp, account: &str, model: &str) -> Value {
    let (status, body) = app
        .admin(
            Method::GET,
            &format!("/api/v1/admin/accounts/{account}/usage?days=1"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["days"][0]["models"][model]["requests"].clone()
}

async fn admit_lease(app: &TestApp, secret: &str) -> String {
    let (status, body) = app.admit(secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["lease"]["id"].as_str().expect("lease").to_string()
}

fn assert_counter_full(status: StatusCode, body: &Value, counter: &str) {
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "counter_full", "{body}");
    assert_eq!(body["error"]["counter"], counter, "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains(counter), "{message}");
}

#[tokio::test]
async fn counts_above_a_billion_tokens_and_bad_request_ids_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "cap"})).await;
    let over = MAX_TOKENS + 1;
    let cases = [
        (
            json!({"input_tokens": over, "output_tokens": 0}),
            "usage.input_tokens",
        ),
        (
            json!({"input_tokens": 0, "output_tokens": over}),
            "usage.output_tokens",
        ),
        (
            json!({"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": over}),
            "usage.cache_creation_input_tokens",
        ),
        (
            json!({"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": over}),
            "usage.cache_read_input_tokens",
        ),
    ];
    for (usage, field) in cases {
        let (status, body) = app.record_usage(report(&id, "a", OPUS, usage)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    for bad in [json!(""), json!("x".repeat(129)), json!("a\nb"), json!(5)] {
        let mut body = report(&id, "a", OPUS, small_usage());
        body["requestId"] = bad.clone();
        let (status, answer) = app.record_usage(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert_eq!(answer["error"]["field"], "requestId", "{bad}: {answer}");
    }
    assert_eq!(app.get_key(&id).await["usage"]["total"]["requests"], 0);

    let mut at_cap = report(&id, "a", OPUS, max_usage());
    at_cap["requestId"] = json!("é".repeat(128));
    let (status, body) = app.record_usage(at_cap).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["costNanoUsd"], MAX_REPORT_COST);
}

#[tokio::test]
async fn a_record_that_would_fill_a_counter_is_refused_whole_and_other_keys_are_unaffected() {
    let app = TestApp::spawn().await;
    let (heavy, heavy_secret) = app
        .create_key(json!({"name": "heavy", "concurrencyLimit": 5}))
        .await;
    let (other, _) = app.create_key(json!({"name": "other"})).await;
    let account = "acct-shared";
    // 74 maximal reports fit under 2^53 - 1 nano-USD; the 75th would not.
    let fitting = MAX_COUNTER / MAX_REPORT_COST;
    assert_eq!(fitting, 74);
    for batch in 0..(fitting / 10 + 1) {
        let count = (fitting - batch * 10).min(10);
        let results = join_all(
            (0..count).map(|_| app.record_usage(report(&heavy, account, OPUS, max_usage()))),
        )
        .await;
        for (status, body) in results {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    let full_cost = fitting * MAX_REPORT_COST;
    let key = app.get_key(&heavy).await;
    assert_eq!(key["usage"]["total"]["requests"], fitting);
    assert_eq!(key["usage"]["daily"]["costNanoUsd"], full_cost);

    // The next one is refused: nothing of it is recorded, and its lease is released.
    let lease = admit_lease(&app, &heavy_secret).await;
    assert_eq!(app.get_key(&heavy).await["currentConcurrency"], 1);
    let (key_before, ledger_before) = (key_side(&app, &heavy), ledger(&app));
    let mut next = report(&heavy, account, OPUS, max_usage());
    next["lease"] = json!(lease);
    let (status, body) = app.record_usage(next.clone()).await;
    assert_counter_full(status, &body, "dailyCostIndex.cost");
    assert_eq!(key_side(&app, &heavy), key_before);
    assert_eq!(ledger(&app), ledger_before);
    let key = app.get_key(&heavy).await;
    assert_eq!(key["currentConcurrency"], 0, "the lease is released");
    assert_eq!(key["usage"]["total"]["requests"], fitting);
    assert_eq!(key["usage"]["total"]["costNanoUsd"], full_cost);
    // Refused again on a retry, and still nothing changes.
    let (status, body) = app.record_usage(next).await;
    assert_counter_full(status, &body, "dailyCostIndex.cost");
    assert_eq!(key_side(&app, &heavy), key_before);
    assert_eq!(ledger(&app), ledger_before);

    // Another key on the same account: a record that fits is applied whole...
    let (status, body) = app
        .record_usage(report(&other, account, OPUS, small_usage()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(account_requests(&app, account, OPUS).await, fitting + 1);
    // ...one that would fill the account's shared ledger is refused whole (no partial totals)...
    let (other_before, ledger_before) = (key_side(&app, &other), ledger(&app));
    let (status, body) = app
        .record_usage(report(&other, account, OPUS, max_usage()))
        .await;
    assert_counter_full(status, &body, &format!("accountDaily.cost|{OPUS}"));
    assert_eq!(key_side(&app, &other), other_before);
    assert_eq!(ledger(&app), ledger_before);
    let other_key = app.get_key(&other).await;
    assert_eq!(other_key["usage"]["total"]["requests"], 1);
    // ...and its other models are untouched by the full one.
    let (status, body) = app
        .record_usage(report(&other, account, "claude-sonnet-4-5", max_usage()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.get_key(&other).await["usage"]["total"]["requests"], 2);
}

#[tokio::test]
async fn when_the_key_side_refuses_the_ledger_is_taken_back() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "k", "concurrencyLimit": 2, "rateLimitWindow": 10}))
        .await;
    let account = "acct-undo";
    let first_lease = admit_lease(&app, &secret).await;
    let mut first = report(&id, account, OPUS, small_usage());
    first["lease"] = json!(first_lease);
    assert_eq!(app.record_usage(first).await.0, StatusCode::OK);
    // A key whose all-time cost is near the bound (set directly: reaching it by reports would
    // take tens of thousands of them after the daily counters roll over).
    let total = format!("kw:{{k:{id}}}:u:total");
    app.redis
        .cli(&["HSET", &total, "cost", &(MAX_COUNTER - 10).to_string()]);
    let lease = admit_lease(&app, &secret).await;
    let (key_before, ledger_before) = (key_side(&app, &id), ledger(&app));
    assert!(
        ledger_before.iter().any(|l| l.contains(":acct:")),
        "{ledger_before:?}"
    );
    // Later than the first record, so a sort order left moved would show.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut refused = report(&id, account, OPUS, small_usage());
    refused["lease"] = json!(lease);
    refused["requestId"] = json!("req-undo");
    for _ in 0..2 {
        let (status, body) = app.record_usage(refused.clone()).await;
        assert_counter_full(status, &body, "total.cost");
        assert_eq!(key_side(&app, &id), key_before);
        assert_eq!(ledger(&app), ledger_before);
    }
    let key = app.get_key(&id).await;
    assert_eq!(key["currentConcurrency"], 0, "the lease is released");
    assert_eq!(
        key["currentWindowTokens"], 1010,
        "only the first record's tokens"
    );

    // A refused record is not remembered: once there is room, the same requestId applies.
    app.redis.cli(&["HSET", &total, "cost", "0"]);
    let (status, body) = app.record_usage(refused).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["duplicate"], false);
    assert_eq!(app.get_key(&id).await["usage"]["total"]["requests"], 2);
    assert_eq!(account_requests(&app, account, OPUS).await, 2);

    // The rate window's token count is bounded too.
    let window = format!("kw:{{k:{id}}}:window");
    app.redis
        .cli(&["HSET", &window, "tokens", &(MAX_COUNTER - 5).to_string()]);
    let (key_before, ledger_before) = (key_side(&app, &id), ledger(&app));
    let (status, body) = app
        .record_usage(report(&id, account, OPUS, small_usage()))
        .await;
    assert_counter_full(status, &body, "window.tokens");
    assert_eq!(key_side(&app, &id), key_before);
    assert_eq!(ledger(&app), ledger_before);
}

#[tokio::test]
async fn a_repeated_request_id_is_applied_once_and_answers_with_the_first_figures() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "a"})).await;
    let (other, _) = app.create_key(json!({"name": "b"})).await;
    let account = "acct-idem";
    let mut first = report(&id, account, OPUS, small_usage());
    first["requestId"] = json!("req-1");
    let (status, first_answer) = app.record_usage(first.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first_answer}");
    assert_eq!(first_answer["duplicate"], false);
    let (status, repeat_answer) = app.record_usage(first.clone()).await;
    assert_eq!(status, StatusCode::OK, "{repeat_answer}");
    assert_eq!(repeat_answer["duplicate"], true);
    let without_flag = |answer: &Value| {
        let mut answer = answer.clone();
        answer["duplicate"] = Value::Null;
        answer
    };
    assert_eq!(without_flag(&repeat_answer), without_flag(&first_answer));

    // Records without a requestId are each applied; a later repeat still answers as the first did.
    let (status, _) = app
        .record_usage(report(&id, account, OPUS, small_usage()))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, late_repeat) = app.record_usage(first).await;
    assert_eq!(without_flag(&late_repeat), without_flag(&first_answer));
    let key = app.get_key(&id).await;
    assert_eq!(key["usage"]["total"]["requests"], 2);
    assert_eq!(
        key["usage"]["total"]["costNanoUsd"],
        first_answer["costNanoUsd"].as_i64().expect("cost") * 2
    );
    assert_eq!(account_requests(&app, account, OPUS).await, 2);

    // Another key may use the same requestId: it is its own record.
    let mut theirs = report(&other, account, OPUS, small_usage());
    theirs["requestId"] = json!("req-1");
    let (status, body) = app.record_usage(theirs).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["duplicate"], false);
    assert_eq!(app.get_key(&other).await["usage"]["total"]["requests"], 1);
    assert_eq!(account_requests(&app, account, OPUS).await, 3);
}

#[tokio::test]
async fn fifty_parallel_copies_of_one_record_apply_once_and_release_the_lease() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .create_key(json!({"name": "p", "concurrencyLimit": 1, "rateLimitWindow": 10}))
        .await;
    let account = "acct-parallel";
    let lease = admit_lease(&app, &secret).await;
    let mut body = report(&id, account, OPUS, small_usage());
    body["lease"] = json!(lease);
    body["requestId"] = json!("req-parallel");
    let results = join_all((0..50).map(|_| app.record_usage(body.clone()))).await;
    for (status, answer) in &results {
        assert_eq!(*status, StatusCode::OK, "{answer}");
        assert_eq!(answer["costNanoUsd"], results[0].1["costNanoUsd"]);
        assert_eq!(answer["dailyCostNanoUsd"], results[0].1["dailyCostNanoUsd"]);
    }
    let applied = results
        .iter()
        .filter(|(_, answer)| answer["duplicate"] == false)
        .count();
    assert_eq!(applied, 1);
    let key = app.get_key(&id).await;
    assert_eq!(key["usage"]["total"]["requests"], 1);
    assert_eq!(key["usage"]["daily"]["requests"], 1);
    assert_eq!(
        key["usage"]["total"]["costNanoUsd"],
        results[0].1["costNanoUsd"]
    );
    assert_eq!(key["currentWindowTokens"], 1010);
    assert_eq!(key["currentConcurrency"], 0);
    assert_eq!(account_requests(&app, account, OPUS).await, 1);
    // The slot is free again.
    admit_lease(&app, &secret).await;
}

/// The realistic partial failure on a cluster: the index master applies the ledger side, the
/// key's master is down. The relay's retry with the same requestId applies only the key side.
#[tokio::test]
async fn a_retry_after_the_key_side_failed_applies_only_what_is_missing() {
    if !crate::support::redis::cluster_mode() {
        return; // The two sides live on different masters only on a cluster.
    }
    let redis = crate::support::RedisServer::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]);
    let mut app = TestApp::spawn_on(redis, &[]).await;
    // A key whose slot is on another master than the index.
    let id = loop {
        let (id, _) = app.create_key(json!({"name": "split"})).await;
        let index_node = app.redis.node_holding("kw:{idx}:rows");
        let key_node = app.redis.node_holding(&format!("kw:{{k:{id}}}:key"));
        if key_node.is_some() && key_node != index_node {
            break id;
        }
    };
    let account = "acct-split";
    // One record first, so keyward knows the key (no lookup needed once its node is down).
    assert_eq!(
        app.record_usage(report(&id, account, OPUS, small_usage()))
            .await
            .0,
        StatusCode::OK
    );
    let key_node = app
        .redis
        .node_holding(&format!("kw:{{k:{id}}}:key"))
        .expect("stored");
    let mut retried = report(&id, account, OPUS, small_usage());
    retried["requestId"] = json!("req-split");
    app.redis.kill_node(key_node);
    let (status, body) = app.record_usage(retried.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        account_requests(&app, account, OPUS).await,
        2,
        "the ledger side was applied"
    );

    app.redis.restart();
    app.wait_until_healthy().await;
    let (status, body) = app.record_usage(retried.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["duplicate"], false,
        "the key side had not been applied"
    );
    let (status, body) = app.record_usage(retried).await;
    assert_eq!((status, &body["duplicate"]), (StatusCode::OK, &json!(true)));
    assert_eq!(app.get_key(&id).await["usage"]["total"]["requests"], 2);
    assert_eq!(account_requests(&app, account, OPUS).await, 2);
}

#[tokio::test]
async fn a_single_report_dearer_than_a_counter_can_hold_is_refused() {
    let prices = tempfile::tempdir().expect("temp dir");
    let overrides = prices.path().join("overrides.json");
    // $1,000,000 per million output tokens.
    std::fs::write(
        &overrides,
        r#"{"gold-model": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1}}"#,
    )
    .expect("write pricing file");
    let overrides = overrides.to_str().expect("utf-8 path");
    let app = TestApp::spawn_with(&[("KEYWARD_PRICING_OVERRIDES_FILE", overrides)]).await;
    let (id, secret) = app
        .create_key(json!({"name": "gold", "concurrencyLimit": 1}))
        .await;
    let lease = admit_lease(&app, &secret).await;
    // 10^9 output tokens at $1,000,000 per million: 10^18 nano-USD, past 2^53 - 1.
    let mut body = report(
        &id,
        "acct-gold",
        "gold-model",
        json!({"input_tokens": 0, "output_tokens": MAX_TOKENS}),
    );
    body["lease"] = json!(lease);
    let ledger_before = ledger(&app);
    let (status, answer) = app.record_usage(body).await;
    assert_counter_full(status, &answer, "cost");
    assert_eq!(ledger(&app), ledger_before);
    let key = app.get_key(&id).await;
    assert_eq!(key["usage"]["total"]["requests"], 0);
    assert_eq!(key["currentConcurrency"], 0, "the lease is released");
}

#[tokio::test]
async fn erasing_a_key_removes_its_request_ids_too() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "gone"})).await;
    let mut body = report(&id, "acct-gone", OPUS, small_usage());
    body["requestId"] = json!("req-gone");
    assert_eq!(app.record_usage(body).await.0, StatusCode::OK);
    let markers: Vec<String> = app
        .redis
        .all_keys()
        .into_iter()
        .filter(|name| name.contains(":req"))
        .collect();
    assert_eq!(markers.len(), 2, "one marker per side: {markers:?}");
    for name in &markers {
        let ttl: i64 = app.redis.cli(&["PTTL", name]).trim().parse().expect("ms");
        assert!(
            (86_000_000..=86_400_000).contains(&ttl),
            "{name} is kept 24 hours: {ttl}"
        );
    }
    // Erasing (a soft delete keeps the markers, so a restored key still applies a retry once).
    let (status, _) = app
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/keys/{id}?permanent=true"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let leftovers: Vec<String> = app
        .redis
        .all_keys()
        .into_iter()
        // The audit log keeps the key's history on purpose.
        .filter(|name| name.contains(&id) && !name.starts_with("kw:{audit}"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}
