//! Metering: the four usage shapes, prices from the LiteLLM table, canonical models, reloads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::TestApp;

fn report(id: &str, model: &str, usage: Value) -> Value {
    json!({"keyId": id, "accountId": "acct-m", "model": model, "usage": usage})
}

fn tokens(input: u64, output: u64, cache_5m: u64, cache_1h: u64, cache_read: u64) -> Value {
    json!({
        "inputTokens": input,
        "outputTokens": output,
        "cacheCreateTokens": cache_5m + cache_1h,
        "cacheCreate5mTokens": cache_5m,
        "cacheCreate1hTokens": cache_1h,
        "cacheReadTokens": cache_read,
        "allTokens": input + output + cache_5m + cache_1h + cache_read,
    })
}

async fn account_day(app: &TestApp, account: &str) -> Value {
    let (status, body) = app
        .admin(
            Method::GET,
            &format!("/api/v1/admin/accounts/{account}/usage?days=1"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["days"][0].clone()
}

async fn metrics(app: &TestApp) -> String {
    app.http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

#[tokio::test]
async fn each_usage_shape_is_normalised_priced_and_recorded() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "meter"})).await;
    // (model sent, usage body extras, format, normalised tokens, canonical model, cost in nano-USD)
    let cases = [
        // Anthropic streaming message_delta: only the output count. $15 per million.
        (
            "claude-sonnet-4-5",
            json!({"usage": {"output_tokens": 503}}),
            "anthropic",
            tokens(0, 503, 0, 0, 0),
            "claude-sonnet-4-5-20250929",
            503 * 15_000,
        ),
        // OpenAI Chat Completions: cached tokens are inside prompt_tokens, reasoning inside
        // completion_tokens. gpt-4o: $2.50 input, $10 output, $1.25 cached per million.
        (
            "gpt-4o",
            json!({"usage": {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0,
                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}}),
            "openai",
            tokens(86, 300, 0, 0, 1920),
            "gpt-4o",
            86 * 2_500 + 300 * 10_000 + 1920 * 1_250,
        ),
        // OpenAI Responses (Anthropic's member names, plus the details). gpt-5: $1.25 / $10 /
        // $0.125 per million.
        (
            "openai/gpt-5",
            json!({"usage": {"input_tokens": 5000, "input_tokens_details": {"cached_tokens": 4096},
                "output_tokens": 1200, "output_tokens_details": {"reasoning_tokens": 1024},
                "total_tokens": 6200}}),
            "openai-responses",
            tokens(904, 1200, 0, 0, 4096),
            "gpt-5-2025-08-07",
            904 * 1_250 + 1200 * 10_000 + 4096 * 125,
        ),
        // Gemini usageMetadata, wrapped. gemini-2.5-pro below 200k: $1.25 / $10 / $0.125.
        (
            "gemini/gemini-2.5-pro",
            json!({"usage": {"usageMetadata": {"promptTokenCount": 12000, "candidatesTokenCount": 800,
                "totalTokenCount": 15300, "cachedContentTokenCount": 8000, "thoughtsTokenCount": 2400,
                "toolUsePromptTokenCount": 100, "trafficType": "ON_DEMAND",
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12000}]}}}),
            "gemini",
            tokens(4100, 3200, 0, 0, 8000),
            "gemini-2.5-pro",
            4100 * 1_250 + 3200 * 10_000 + 8000 * 125,
        ),
        // Gemini, bare and named; one token past 200k prompt tokens: the whole request at
        // $2.50 per million input.
        (
            "gemini-2.5-pro",
            json!({"format": "gemini", "usage": {"promptTokenCount": 200_001}}),
            "gemini",
            tokens(200_001, 0, 0, 0, 0),
            "gemini-2.5-pro",
            200_001 * 2_500,
        ),
        // A named format reads shared member names its way.
        (
            "gpt-4.1",
            json!({"format": "openai-responses", "usage": {"input_tokens": 1000, "output_tokens": 10}}),
            "openai-responses",
            tokens(1000, 10, 0, 0, 0),
            "gpt-4.1-2025-04-14",
            1000 * 2_000 + 10 * 8_000,
        ),
    ];
    let mut expected_cost = 0;
    for (model, extras, format, expected_tokens, priced_as, cost) in cases {
        let mut body = report(&id, model, Value::Null);
        for (name, value) in extras.as_object().expect("object") {
            body[name] = value.clone();
        }
        let (status, answer) = app.record_usage(body).await;
        assert_eq!(status, StatusCode::OK, "{model}: {answer}");
        assert_eq!(answer["format"], format, "{model}");
        assert_eq!(answer["tokens"], expected_tokens, "{model}");
        assert_eq!(answer["pricedAs"], priced_as, "{model}");
        assert_eq!(answer["priceFallback"], false, "{model}");
        assert_eq!(answer["costNanoUsd"], cost, "{model}");
        expected_cost += cost;
    }
    // Stored counts are the normalised ones, so totals add up across providers.
    let totals = &app.get_key(&id).await["usage"]["total"];
    assert_eq!(totals["requests"], 6);
    assert_eq!(totals["inputTokens"], 86 + 904 + 4100 + 200_001 + 1000);
    assert_eq!(totals["outputTokens"], 503 + 300 + 1200 + 3200 + 10);
    assert_eq!(totals["cacheReadTokens"], 1920 + 4096 + 8000);
    assert_eq!(totals["costNanoUsd"], expected_cost);
    let day = account_day(&app, "acct-m").await;
    assert_eq!(day["models"]["gemini-2.5-pro"]["requests"], 2, "{day}");
    assert_eq!(
        day["models"]["gpt-5-2025-08-07"]["inputTokens"], 904,
        "{day}"
    );
}

#[tokio::test]
async fn usage_that_fits_no_shape_is_refused_and_nothing_recorded() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "strict"})).await;
    let refusals = [
        (json!({"usage": [1, 2]}), "usage"),
        (json!({"usage": {}}), "usage"),
        (json!({"usage": {"total_tokens": 10}}), "usage"),
        (
            json!({"usage": {"prompt_tokens": -1}}),
            "usage.prompt_tokens",
        ),
        (
            json!({"usage": {"input_tokens": 1.5}}),
            "usage.input_tokens",
        ),
        (
            json!({"usage": {"usageMetadata": {"promptTokenCount": "12"}}}),
            "usage.usageMetadata.promptTokenCount",
        ),
        (
            json!({"usage": {"prompt_tokens": 10, "input_tokens": 10}}),
            "usage.input_tokens",
        ),
        (
            json!({"format": "openai", "usage": {"input_tokens": 10}}),
            "usage.input_tokens",
        ),
        (
            json!({"format": "bedrock", "usage": {"input_tokens": 10}}),
            "format",
        ),
        (
            json!({"usage": {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 6}}}),
            "usage.input_tokens_details.cached_tokens",
        ),
    ];
    for (extras, field) in refusals {
        let mut body = report(&id, "claude-sonnet-4-5", Value::Null);
        for (name, value) in extras.as_object().expect("object") {
            body[name] = value.clone();
        }
        let (status, answer) = app.record_usage(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extras}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{extras}: {answer}");
    }
    let key = app.get_key(&id).await;
    assert_eq!(key["usage"]["total"]["requests"], 0);
    assert!(key["lastUsedAt"].is_null(), "{key}");
    let day = account_day(&app, "acct-m").await;
    assert_eq!(day["total"]["requests"], 0, "{day}");
}

#[tokio::test]
async fn aliases_and_relay_spellings_are_one_model_in_account_usage() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "aliases"})).await;
    let spellings = [
        "claude-opus-4-1",
        "us.anthropic.claude-opus-4-1-20250805-v1:0",
        "claude-opus-4-1@20250805",
        "Claude-Opus-4-1-20250805[1m]",
    ];
    for model in spellings {
        let (status, answer) = app
            .record_usage(report(
                &id,
                model,
                json!({"input_tokens": 10, "output_tokens": 1}),
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["pricedAs"], "claude-opus-4-1-20250805");
    }
    // An unknown model keeps its own (normalised) name.
    app.record_usage(report(&id, "Mystery-Model", json!({"input_tokens": 1})))
        .await;
    let day = account_day(&app, "acct-m").await;
    let models = day["models"].as_object().expect("models");
    let names: Vec<&String> = models.keys().collect();
    assert_eq!(
        names,
        ["claude-opus-4-1-20250805", "mystery-model"],
        "{day}"
    );
    assert_eq!(models["claude-opus-4-1-20250805"]["requests"], 4);
    assert_eq!(models["claude-opus-4-1-20250805"]["inputTokens"], 40);
}

#[tokio::test]
async fn fallback_priced_records_are_flagged_and_counted() {
    let app = TestApp::spawn().await;
    let (id, _) = app.create_key(json!({"name": "fallback"})).await;
    // 18 gemini requests under a name the table lacks: Opus 4.1's $15 per million, flagged.
    for _ in 0..3 {
        let (status, answer) = app
            .record_usage(report(
                &id,
                "gemini-9-ultra",
                json!({"promptTokenCount": 1000}),
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["priceFallback"], true);
        assert_eq!(answer["pricedAs"], "fallback");
        assert_eq!(answer["costNanoUsd"], 1000 * 15_000);
    }
    app.record_usage(report(
        &id,
        "gemini-2.5-pro",
        json!({"promptTokenCount": 1000}),
    ))
    .await;
    let text = metrics(&app).await;
    assert!(
        text.lines()
            .any(|line| line == "keyward_usage_fallback_priced_total 3"),
        "{text}"
    );
}

#[tokio::test]
async fn model_restrictions_match_canonical_names() {
    let app = TestApp::spawn().await;
    for (denied, spellings) in [
        (
            "gemini-2.5-pro",
            &["gemini/gemini-2.5-pro", "GEMINI-2.5-PRO"][..],
        ),
        (
            "gpt-4.1",
            &["openai/gpt-4.1-2025-04-14", "gpt-4.1-2025-04-14"][..],
        ),
        ("claude-opus-4-1", &["claude-opus-4-1-20250805"][..]),
    ] {
        let (_, secret) = app
            .create_key(json!({"name": "deny", "enableModelRestriction": true, "restrictedModels": [denied]}))
            .await;
        for model in spellings {
            let (status, body) = app.verify(json!({"key": secret, "model": model})).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{model} with {denied} denied: {body}"
            );
            assert_eq!(body["error"]["code"], "model_not_allowed");
        }
        let (status, _) = app.verify(json!({"key": secret, "model": "gpt-4o"})).await;
        assert_eq!(status, StatusCode::OK);
    }
}

/// Writes an overrides file pricing `reload-model`'s input at `usd_per_token`.
fn write_overrides(path: &std::path::Path, usd_per_token: &str) {
    std::fs::write(
        path,
        format!(
            r#"{{"reload-model": {{"input_cost_per_token": {usd_per_token}, "output_cost_per_token": 1e-06}}}}"#
        ),
    )
    .expect("write overrides");
}

fn reloads_printed(app: &TestApp) -> usize {
    app.stdout()
        .iter()
        .filter(|line| line.contains("keyward pricing reloaded"))
        .count()
}

fn hang_up(app: &TestApp) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &app.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test]
async fn sighup_reloads_prices_under_load_without_a_failed_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let overrides = dir.path().join("overrides.json");
    write_overrides(&overrides, "1e-06");
    let app = Arc::new(
        TestApp::spawn_with(&[(
            "KEYWARD_PRICING_OVERRIDES_FILE",
            overrides.to_str().expect("utf-8"),
        )])
        .await,
    );
    let (id, _) = app.create_key(json!({"name": "reload"})).await;
    let body = report(&id, "reload-model", json!({"input_tokens": 1000}));
    let (_, first) = app.record_usage(body.clone()).await;
    assert_eq!(first["costNanoUsd"], 1_000_000, "{first}");

    // Four relays record usage in a loop the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (app, stop, body) = (app.clone(), stop.clone(), body.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    answers.push(app.record_usage(body.clone()).await);
                }
                answers
            })
        })
        .collect();

    // A new price: in force once the reload is reported.
    write_overrides(&overrides, "2e-06");
    hang_up(&app);
    let deadline = Instant::now() + Duration::from_secs(20);
    while reloads_printed(&app) < 1 {
        assert!(Instant::now() < deadline, "no reload reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, after) = app.record_usage(body.clone()).await;
    assert_eq!(after["costNanoUsd"], 2_000_000, "{after}");

    // A broken file: the reload fails and the table in use stays.
    std::fs::write(
        &overrides,
        "{\"reload-model\": {\"input_cost_per_token\": -1",
    )
    .expect("write");
    hang_up(&app);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !metrics(&app)
        .await
        .contains("keyward_pricing_reloads_total{outcome=\"failed\"} 1")
    {
        assert!(Instant::now() < deadline, "no failed reload counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, kept) = app.record_usage(body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kept["costNanoUsd"], 2_000_000, "{kept}");
    assert_eq!(kept["priceFallback"], false);

    stop.store(true, Ordering::Relaxed);
    let mut recorded = 0;
    for worker in workers {
        for (status, answer) in worker.await.expect("worker") {
            assert_eq!(status, StatusCode::OK, "{answer}");
            let cost = answer["costNanoUsd"].as_i64().expect("cost");
            assert!(cost == 1_000_000 || cost == 2_000_000, "{answer}");
            recorded += 1;
        }
    }
    assert!(recorded > 0, "the load ran");
    let total = &app.get_key(&id).await["usage"]["total"];
    assert_eq!(total["requests"], recorded + 3);
    assert_eq!(reloads_printed(&app), 1);
}

/// `keyward <args>` with the test settings (no Redis needed): success, stdout, stderr.
fn keyward(env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = crate::support::app::keyward_command("redis://127.0.0.1:1", dir.path(), env)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("keyward runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn pricing_show_prints_how_names_resolve() {
    let (ok, stdout, stderr) = keyward(
        &[],
        &[
            "pricing",
            "show",
            "us.anthropic.claude-opus-4-1-20250805-v1:0",
            "gemini/gemini-2.5-pro",
            "made-up-model",
        ],
    );
    assert!(ok, "{stderr}");
    let sections: Vec<&str> = stdout.split("\n\n").collect();
    assert_eq!(sections.len(), 4, "{stdout}");
    let opus = sections[1];
    assert!(
        opus.contains("canonical:   claude-opus-4-1-20250805"),
        "{opus}"
    );
    assert!(opus.contains("config/pricing_overrides.json"), "{opus}");
    assert!(
        opus.contains("input 15.00, output 75.00, cache read 1.50, 5m cache write 18.75, 1h cache write 30.00"),
        "{opus}"
    );
    assert!(opus.contains("no long-prompt tier"), "{opus}");
    let gemini = sections[2];
    assert!(gemini.contains("canonical:   gemini-2.5-pro"), "{gemini}");
    assert!(
        gemini.contains("config/model_prices_and_context_window.json"),
        "{gemini}"
    );
    assert!(
        gemini.contains(
            "above 200000 prompt tokens (whole request): input 2.50, output 15.00, cache read 0.25"
        ),
        "{gemini}"
    );
    let unknown = sections[3];
    assert!(unknown.contains("fallback:"), "{unknown}");
    assert!(unknown.contains("claude-opus-4-1-20250805"), "{unknown}");
}

#[test]
fn bad_pricing_settings_stop_the_start_naming_them() {
    let (ok, _, stderr) = keyward(
        &[("KEYWARD_PRICING_FALLBACK_MODEL", "no-such-model")],
        &["pricing", "show", "x"],
    );
    assert!(
        !ok && stderr.contains("pricing_fallback_model `no-such-model`"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        r#"{"m": {"input_cost_per_token": "cheap", "output_cost_per_token": 1}}"#,
    )
    .expect("write");
    let broken = broken.to_str().expect("utf-8");
    let (ok, _, stderr) = keyward(&[("KEYWARD_PRICING_OVERRIDES_FILE", broken)], &["serve"]);
    assert!(!ok, "a broken overrides file must stop the start");
    assert!(
        stderr.contains(broken) && stderr.contains("entry `m`"),
        "{stderr}"
    );
    // No overrides file: the release alone, where the ids it lacks get the fallback.
    let (ok, stdout, stderr) = keyward(
        &[("KEYWARD_PRICING_OVERRIDES_FILE", "")],
        &["pricing", "show", "claude-3-haiku-20240307"],
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("no overrides file") && stdout.contains("fallback:"),
        "{stdout}"
    );
}
