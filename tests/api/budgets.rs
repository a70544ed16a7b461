//! Cost budgets over every period (total, week, calendar month, rate window) and the address
//! allow-list: each refusal with its code and `Retry-After`, the week and month boundaries in a
//! non-UTC zone (through the test clock), and exact counters under contention.

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::app::{Process, SERVICE_TOKEN};
use crate::support::TestApp;

const ZONE: &str = "America/New_York";
/// claude-sonnet-4-5 input: $3 per million tokens = 3,000 nano-USD a token.
const NANOS_PER_INPUT_TOKEN: i64 = 3_000;

fn usage(id: &str, input_tokens: u64) -> Value {
    json!({"keyId": id, "model": "claude-sonnet-4-5",
           "usage": {"input_tokens": input_tokens, "output_tokens": 0}})
}

/// Seconds from the real clock to `at`: the test clock offset that makes keyward's "now" `at`.
fn offset_to(at: &str) -> String {
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(at)
        .expect("time")
        .with_timezone(&Utc);
    (at - Utc::now()).num_seconds().to_string()
}

/// A verify against `base`: status, refusal code (or ""), Retry-After (if any).
async fn verify_at(app: &TestApp, base: &str, body: Value) -> (StatusCode, String, Option<u64>) {
    let response = app
        .http
        .post(format!("{base}/api/v1/keys/verify"))
        .bearer_auth(SERVICE_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").parse().expect("seconds"));
    let body: Value = response.json().await.expect("json");
    let code = body["error"]["code"].as_str().unwrap_or("").to_string();
    (status, code, retry_after)
}

async fn usage_at(app: &TestApp, base: &str, body: Value) -> StatusCode {
    app.http
        .post(format!("{base}/api/v1/usage"))
        .bearer_auth(SERVICE_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("sent")
        .status()
}

/// A second instance on the app's Redis with its clock at `at` in `ZONE`.
fn instance_at(app: &TestApp, at: &str) -> Process {
    let offset = offset_to(at);
    Process::start(
        &app.redis.url(),
        app.data_dir.path(),
        &[
            ("KEYWARD_TIMEZONE", ZONE),
            ("KEYWARD_TEST_CLOCK_OFFSET_SECS", &offset),
        ],
    )
}

fn base(address: &str) -> String {
    address.trim_end_matches('/').to_string()
}

#[tokio::test]
async fn weekly_budget_resets_at_the_keys_local_day_and_hour() {
    // Monday 7 December 2026, 08:59 in New York (EST, -5) = 13:59 UTC: the Monday-09:00 week
    // still runs there, though 09:00 has long passed in UTC.
    let offset = offset_to("2026-12-07T13:59:00Z");
    let app = TestApp::spawn_with(&[
        ("KEYWARD_TIMEZONE", ZONE),
        ("KEYWARD_TEST_CLOCK_OFFSET_SECS", &offset),
    ])
    .await;
    let here = base(&app.address);
    let (id, secret) = app
        .create_key(json!({"name": "w", "weeklyCostLimit": 0.01, "weeklyResetDay": 1, "weeklyResetHour": 9}))
        .await;
    let key = app.get_key(&id).await;
    assert_eq!(key["weeklyCostLimit"], 0.01);
    assert_eq!(
        (
            key["weeklyResetDay"].clone(),
            key["weeklyResetHour"].clone()
        ),
        (json!(1), json!(9))
    );
    assert_eq!(
        usage_at(&app, &here, usage(&id, 3334)).await,
        StatusCode::OK
    );
    assert_eq!(app.get_key(&id).await["weeklyCost"], 0.010002);

    let (status, code, retry_after) =
        verify_at(&app, &here, json!({"key": secret, "acquire": true})).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "weekly_cost_limit")
    );
    let retry_after = retry_after.expect("a weekly refusal says when to retry");
    assert!(
        (50..=60).contains(&retry_after),
        "09:00 local is a minute away: {retry_after}"
    );

    // Two minutes later (09:01 local) the new week has nothing spent.
    let later = instance_at(&app, "2026-12-07T14:01:00Z");
    let (status, code, _) = verify_at(
        &app,
        &base(&later.address),
        json!({"key": secret, "acquire": true}),
    )
    .await;
    assert_eq!((status, code.as_str()), (StatusCode::OK, ""));
    assert_eq!(
        usage_at(&app, &base(&later.address), usage(&id, 1000)).await,
        StatusCode::OK
    );
    let (_, body) = app
        .http
        .get(later.url(&format!("/api/v1/admin/keys/{id}")))
        .bearer_auth(crate::support::app::ADMIN_TOKEN)
        .send()
        .await
        .map(|r| (r.status(), r))
        .expect("sent");
    let body: Value = body.json().await.expect("json");
    assert_eq!(body["key"]["weeklyCost"], 0.003, "{body}");
    // The total keeps everything.
    assert_eq!(body["key"]["totalCost"], 0.013002, "{body}");
}

#[tokio::test]
async fn monthly_budget_follows_the_calendar_month_in_the_zone() {
    // 30 November 2026, 23:59 in New York = 1 December 04:59 UTC (already December in UTC).
    let offset = offset_to("2026-12-01T04:59:00Z");
    let app = TestApp::spawn_with(&[
        ("KEYWARD_TIMEZONE", ZONE),
        ("KEYWARD_TEST_CLOCK_OFFSET_SECS", &offset),
    ])
    .await;
    let here = base(&app.address);
    let (id, secret) = app
        .create_key(json!({"name": "m", "monthlyCostLimit": 0.01}))
        .await;
    assert_eq!(
        usage_at(&app, &here, usage(&id, 3334)).await,
        StatusCode::OK
    );
    assert_eq!(app.get_key(&id).await["monthlyCost"], 0.010002);
    let (status, code, retry_after) = verify_at(&app, &here, json!({"key": secret})).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "monthly_cost_limit")
    );
    let retry_after = retry_after.expect("a monthly refusal says when to retry");
    assert!(
        (50..=60).contains(&retry_after),
        "the 1st is a minute away: {retry_after}"
    );

    let later = instance_at(&app, "2026-12-01T05:01:00Z");
    let (status, code, _) = verify_at(&app, &base(&later.address), json!({"key": secret})).await;
    assert_eq!((status, code.as_str()), (StatusCode::OK, ""));
}

#[tokio::test]
async fn total_and_window_cost_budgets_refuse_with_their_codes() {
    let app = TestApp::spawn().await;
    let here = base(&app.address);
    let (total_id, total_secret) = app
        .create_key(json!({"name": "t", "totalCostLimit": 0.01}))
        .await;
    assert_eq!(
        usage_at(&app, &here, usage(&total_id, 3333)).await,
        StatusCode::OK
    );
    // $0.009999: still under.
    assert_eq!(
        verify_at(&app, &here, json!({"key": total_secret})).await.0,
        StatusCode::OK
    );
    assert_eq!(
        usage_at(&app, &here, usage(&total_id, 1)).await,
        StatusCode::OK
    );
    let (status, code, retry_after) = verify_at(&app, &here, json!({"key": total_secret})).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "total_cost_limit")
    );
    assert_eq!(
        retry_after, None,
        "waiting does not lift an all-time budget"
    );

    let (window_id, window_secret) = app
        .create_key(json!({"name": "w", "rateLimitWindow": 10, "rateLimitCost": 0.01}))
        .await;
    // Cost outside a running window counts for no window.
    assert_eq!(
        usage_at(&app, &here, usage(&window_id, 5000)).await,
        StatusCode::OK
    );
    assert_eq!(app.get_key(&window_id).await["currentWindowCost"], 0.0);
    let admit = json!({"key": window_secret, "acquire": true});
    assert_eq!(
        verify_at(&app, &here, admit.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        usage_at(&app, &here, usage(&window_id, 3334)).await,
        StatusCode::OK
    );
    assert_eq!(app.get_key(&window_id).await["currentWindowCost"], 0.010002);
    let (status, code, retry_after) = verify_at(&app, &here, admit).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "window_cost_limit")
    );
    let retry_after = retry_after.expect("the rest of the window");
    assert!((590..=600).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn budget_fields_are_validated_each_by_name() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"name": "a", "rateLimitCost": 1}), "rateLimitCost"),
        (json!({"name": "a", "totalCostLimit": -1}), "totalCostLimit"),
        (
            json!({"name": "a", "weeklyCostLimit": 1e-12}),
            "weeklyCostLimit",
        ),
        (
            json!({"name": "a", "monthlyCostLimit": 1e9}),
            "monthlyCostLimit",
        ),
        (json!({"name": "a", "weeklyResetDay": 0}), "weeklyResetDay"),
        (json!({"name": "a", "weeklyResetDay": 8}), "weeklyResetDay"),
        (
            json!({"name": "a", "weeklyResetHour": 24}),
            "weeklyResetHour",
        ),
        (
            json!({"name": "a", "allowedIps": ["10.0.0.0/33"]}),
            "allowedIps",
        ),
        (
            json!({"name": "a", "allowedIps": ["300.1.1.1"]}),
            "allowedIps",
        ),
        (
            json!({"name": "a", "allowedIps": ["2001:db8::/129"]}),
            "allowedIps",
        ),
        (
            json!({"name": "a", "allowedIps": ["example.com"]}),
            "allowedIps",
        ),
    ];
    for (body, field) in cases {
        let (status, reply) = app
            .admin(Method::POST, "/api/v1/admin/keys", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert_eq!(reply["error"]["field"], field, "{body}: {reply}");
    }
    // Every bad field at once.
    let (status, reply) = app
        .admin(
            Method::POST,
            "/api/v1/admin/keys",
            Some(json!({"name": "a", "totalCostLimit": -1, "weeklyResetHour": 99, "allowedIps": ["x"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields = reply["error"]["fields"].as_object().expect("fields");
    for field in ["totalCostLimit", "weeklyResetHour", "allowedIps"] {
        assert!(fields.contains_key(field), "{reply}");
    }
    // A window cost budget on a key that has a window.
    let (id, _) = app
        .create_key(json!({"name": "ok", "rateLimitWindow": 5, "rateLimitCost": 2.5}))
        .await;
    assert_eq!(app.get_key(&id).await["rateLimitCost"], 2.5);
    // Turning the window off under it would silently drop it.
    let (status, reply) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{id}"),
            Some(json!({"rateLimitWindow": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(reply["error"]["field"], "rateLimitCost");
}

#[tokio::test]
async fn allowed_ips_match_v4_and_v6_ranges_and_fail_closed() {
    let app = TestApp::spawn().await;
    let here = base(&app.address);
    let (id, secret) = app
        .create_key(json!({"name": "ip", "allowedIps": ["10.20.0.0/14", "192.168.1.7", "2001:db8:ab00::/40"]}))
        .await;
    assert_eq!(
        app.get_key(&id).await["allowedIps"],
        json!(["10.20.0.0/14", "192.168.1.7", "2001:db8:ab00::/40"])
    );
    let check = |ip: Option<&str>| {
        let mut body = json!({"key": secret});
        if let Some(ip) = ip {
            body["clientIp"] = json!(ip);
        }
        body
    };
    for allowed in [
        "10.20.0.1",
        "10.23.255.254",
        "192.168.1.7",
        "2001:db8:ab00::1",
        "2001:db8:abff:ffff::9",
        "::ffff:10.21.1.1",
    ] {
        let (status, code, _) = verify_at(&app, &here, check(Some(allowed))).await;
        assert_eq!((status, code.as_str()), (StatusCode::OK, ""), "{allowed}");
    }
    for refused in [
        Some("10.24.0.1"),
        Some("10.19.255.255"),
        Some("192.168.1.8"),
        Some("2001:db8:ac00::1"),
        Some("2001:db8:aa00::1"),
        None,
    ] {
        let (status, code, retry_after) = verify_at(&app, &here, check(refused)).await;
        assert_eq!(
            (status, code.as_str(), retry_after),
            (StatusCode::FORBIDDEN, "ip_not_allowed", None),
            "{refused:?}"
        );
    }
    let (status, reply) = app
        .verify(json!({"key": secret, "clientIp": "10.0.0.999"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply["error"]["field"], "clientIp");
    let (status, reply) = app.verify(json!({"key": secret, "waitMs": 60001})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply["error"]["field"], "waitMs");

    // Clearing the list opens the key to any address again.
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/keys/{id}"),
            Some(json!({"allowedIps": []})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verify_at(&app, &here, check(None)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn every_budget_counter_is_exact_under_parallel_usage() {
    let app = TestApp::spawn().await;
    let here = base(&app.address);
    let (id, secret) = app
        .create_key(json!({"name": "p", "rateLimitWindow": 60, "rateLimitCost": 1000,
                           "weeklyCostLimit": 1000, "monthlyCostLimit": 1000, "totalCostLimit": 1000}))
        .await;
    assert_eq!(
        verify_at(&app, &here, json!({"key": secret, "acquire": true}))
            .await
            .0,
        StatusCode::OK
    );
    const RECORDS: i64 = 2_000;
    let statuses: Vec<StatusCode> = stream::iter(0..RECORDS)
        .map(|_| usage_at(&app, &here, usage(&id, 7)))
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK));
    let (_, raw) = app
        .admin(Method::GET, &format!("/api/v1/admin/keys/{id}"), None)
        .await;
    let key = &raw["key"];
    let expected = RECORDS * 7 * NANOS_PER_INPUT_TOKEN;
    assert_eq!(key["usage"]["total"]["costNanoUsd"], expected);
    let usd = expected as f64 / 1e9;
    for field in [
        "weeklyCost",
        "monthlyCost",
        "totalCost",
        "currentWindowCost",
    ] {
        assert_eq!(key[field], usd, "{field}: {key}");
    }
    // The Redis counters themselves are the integer sums.
    let week = app
        .redis
        .cli(&["HGET", &format!("kw:{{k:{id}}}:u:week"), "cost"]);
    assert_eq!(week.trim(), expected.to_string());
    let window = app
        .redis
        .cli(&["HGET", &format!("kw:{{k:{id}}}:window"), "cost"]);
    assert_eq!(window.trim(), expected.to_string());
}

#[tokio::test]
async fn parallel_admissions_stop_at_the_budget_with_one_request_in_flight_each() {
    // A budget is checked on admission; a request admitted under it may finish over it, so the
    // overshoot is bounded by the requests in flight. With a concurrency limit of 1, every
    // admission sees the cost of the one before it.
    let app = TestApp::spawn().await;
    let here = base(&app.address);
    let (id, secret) = app
        .create_key(json!({"name": "b", "totalCostLimit": 0.1, "concurrencyLimit": 1}))
        .await;
    let mut admitted = 0;
    loop {
        let response = app
            .http
            .post(format!("{here}/api/v1/keys/verify"))
            .bearer_auth(SERVICE_TOKEN)
            .json(&json!({"key": secret, "acquire": true}))
            .send()
            .await
            .expect("sent");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        if status != StatusCode::OK {
            assert_eq!(body["error"]["code"], "total_cost_limit", "{body}");
            break;
        }
        admitted += 1;
        let lease = body["lease"]["id"].as_str().expect("lease").to_string();
        // $0.03 a request.
        let mut record = usage(&id, 10_000);
        record["lease"] = json!(lease);
        assert_eq!(usage_at(&app, &here, record).await, StatusCode::OK);
        assert!(admitted < 10, "the budget never refused");
    }
    // 0, 0.03, 0.06, 0.09 are under $0.10; the fourth request finished at $0.12.
    assert_eq!(admitted, 4);
    assert_eq!(app.get_key(&id).await["totalCost"], 0.12);
}
