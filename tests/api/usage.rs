//! Usage records: pricing of every token kind, exact totals under contention, account usage.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::TestApp;

fn report(id: &str, model: &str, usage: Value) -> Value {
    json!({"keyId": id, "accountId": "acct-1", "model": model, "usage": usage})
}

#[tokio::test]
async fn each_token_kind_is_priced_from_the_table() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "p"})).await;
    // claude-sonnet-4-5: $3 input, $15 output, $3.75 5m write, $6 1h write, $0.30 read per million.
    let cases = [
        (json!({"input_tokens": 1000, "output_tokens": 0}), 3_000_000),
        (
            json!({"input_tokens": 0, "output_tokens": 1000}),
            15_000_000,
        ),
        (
            json!({"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 1000}),
            3_750_000,
        ),
        (
            json!({"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 1000,
                   "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1000}}),
            6_000_000,
        ),
        (
            json!({"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 1000}),
            300_000,
        ),
    ];
    let mut expected_total = 0;
    for (usage, nanos) in cases {
        let (status, body) = app
            .record_usage(report(&id, "claude-sonnet-4-5-20250929", usage.clone()))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["costNanoUsd"], nanos, "{usage}");
        assert_eq!(body["priceFallback"], false);
        expected_total += nanos;
        assert_eq!(body["dailyCostNanoUsd"], expected_total);
    }
    // Other spellings of the same model are priced the same; haiku 3's $0.03 read is exact.
    let (_, body) = app
        .record_usage(report(
            &id,
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            json!({"input_tokens": 1000, "output_tokens": 0}),
        ))
        .await;
    assert_eq!(body["costNanoUsd"], 3_000_000);
    let (_, body) = app
        .record_usage(report(
            &id,
            "claude-3-haiku-20240307",
            json!({"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 7}),
        ))
        .await;
    assert_eq!(body["costNanoUsd"], 210);

    let key = app.get_key(&id).await;
    assert_eq!(key["usage"]["total"]["requests"], 7);
    assert_eq!(key["usage"]["total"]["cacheCreateTokens"], 2000);
    assert_eq!(key["usage"]["total"]["cacheCreate1hTokens"], 1000);
    assert_eq!(
        key["usage"]["total"]["costNanoUsd"],
        expected_total + 3_000_000 + 210
    );
    assert!(key["lastUsedAt"].is_string());
}

#[tokio::test]
async fn unknown_models_use_the_fallback_price_and_say_so() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "p"})).await;
    let (status, body) = app
        .record_usage(report(
            &id,
            "claude-opus-9-20300101",
            json!({"input_tokens": 1000, "output_tokens": 0}),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["priceFallback"], true);
    assert!(
        body["costNanoUsd"].as_i64().expect("cost") > 0,
        "never a silent $0"
    );
}

#[tokio::test]
async fn parallel_usage_records_add_up_exactly() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "p"})).await;
    let usage = json!({"input_tokens": 3, "output_tokens": 5, "cache_creation_input_tokens": 7, "cache_read_input_tokens": 11,
                       "cache_creation": {"ephemeral_5m_input_tokens": 4, "ephemeral_1h_input_tokens": 3}});
    let body = report(&id, "claude-haiku-4-5", usage);
    // 2,000 records, 200 in flight at a time.
    for _ in 0..10 {
        let results = join_all((0..200).map(|_| app.record_usage(body.clone()))).await;
        let failed: Vec<_> = results
            .iter()
            .filter(|(s, _)| *s != StatusCode::OK)
            .collect();
        assert!(failed.is_empty(), "{failed:?}");
    }
    // claude-haiku-4-5 per token: input 1000, output 5000, 5m write 1250, 1h write 2000, read 100 nano-USD.
    let per_record: i64 = 3 * 1000 + 5 * 5000 + 4 * 1250 + 3 * 2000 + 11 * 100;
    let key = app.get_key(&id).await;
    for bucket in ["total", "daily", "monthly"] {
        let totals = &key["usage"][bucket];
        assert_eq!(totals["requests"], 2000);
        assert_eq!(totals["inputTokens"], 6000);
        assert_eq!(totals["outputTokens"], 10_000);
        assert_eq!(totals["cacheCreateTokens"], 14_000);
        assert_eq!(totals["cacheReadTokens"], 22_000);
        assert_eq!(totals["allTokens"], 52_000);
        assert_eq!(totals["costNanoUsd"], per_record * 2000);
    }
    let (_, account) = app
        .admin(
            Method::GET,
            "/api/v1/admin/accounts/acct-1/usage?days=7",
            None,
        )
        .await;
    let today = account["days"]
        .as_array()
        .expect("days")
        .last()
        .expect("today")
        .clone();
    assert_eq!(account["days"].as_array().expect("days").len(), 7);
    // Grouped under the canonical id of the model the report named by its alias.
    assert_eq!(
        today["models"]["claude-haiku-4-5-20251001"]["requests"],
        2000
    );
    assert_eq!(today["total"]["costNanoUsd"], per_record * 2000);
    assert_eq!(account["accounts"], json!(["acct-1"]));
    // Dated buckets expire by themselves; totals and indexes do not.
    let dated = [":u:d:", ":u:m:", ":u:dm:", ":acct:", ":cost:"];
    for name in app
        .redis
        .all_keys()
        .iter()
        .filter(|k| dated.iter().any(|d| k.contains(d)))
    {
        let ttl: i64 = app
            .redis
            .cli(&["PTTL", name])
            .trim()
            .parse()
            .expect("number");
        assert!(ttl > 0, "{name} has no expiry");
    }
}

#[tokio::test]
async fn bad_reports_are_refused_and_record_nothing() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "p"})).await;
    let cases = [
        (
            json!({"keyId": id, "model": "m", "usage": {"input_tokens": -1, "output_tokens": 0}}),
            "usage.input_tokens",
        ),
        // Absent counts are 0 (a streaming message_delta has only output_tokens), but an
        // object with no count of any usage shape is refused.
        (
            json!({"keyId": id, "model": "m", "usage": {"service_tier": "standard"}}),
            "usage",
        ),
        (
            json!({"keyId": id, "model": "m", "usage": {"input_tokens": 1, "output_tokens": "2"}}),
            "usage.output_tokens",
        ),
        (
            json!({"keyId": id, "model": "", "usage": {"input_tokens": 1, "output_tokens": 2}}),
            "model",
        ),
        (
            json!({"keyId": "nope", "model": "m", "usage": {"input_tokens": 1, "output_tokens": 2}}),
            "keyId",
        ),
        (json!({"keyId": id, "model": "m"}), "usage"),
        (
            json!({"keyId": id, "model": "m", "usage": {"input_tokens": 1, "output_tokens": 2,
            "cache_creation_input_tokens": 1, "cache_creation": {"ephemeral_1h_input_tokens": 5}}}),
            "usage.cache_creation",
        ),
        (
            json!({"keyId": id, "model": "m", "lease": "bad", "usage": {"input_tokens": 1, "output_tokens": 2}}),
            "lease",
        ),
    ];
    for (body, field) in cases {
        let (status, response) = app.record_usage(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(response["error"]["field"], field, "{body} → {response}");
    }
    let unknown = report(
        "00000000-0000-4000-8000-000000000000",
        "m",
        json!({"input_tokens": 1, "output_tokens": 1}),
    );
    assert_eq!(app.record_usage(unknown).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get_key(&id).await["usage"]["total"]["requests"], 0);
    let (_, accounts) = app.admin(Method::GET, "/api/v1/admin/accounts", None).await;
    assert_eq!(
        accounts["accounts"],
        json!([]),
        "no account usage from refused reports"
    );
}
