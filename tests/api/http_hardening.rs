//! The HTTP layer under hostile clients: stalled connections, the connection cap, metrics labels,
//! trailing JSON, redirect targets and account links.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::dashboard::{browser_like, sign_in};
use crate::support::app::SERVICE_TOKEN;
use crate::support::TestApp;

/// Short timeouts, so a test sees them fire; the waits below are bounds, not measurements.
const SHORT_TIMEOUTS: [(&str, &str); 3] = [
    ("KEYWARD_HEADER_READ_TIMEOUT_SECS", "1"),
    ("KEYWARD_REQUEST_BODY_TIMEOUT_SECS", "1"),
    ("KEYWARD_IDLE_TIMEOUT_SECS", "4"),
];

/// Far longer than any timeout above: a connection still open after this was never going to close.
const CLOSE_BOUND: Duration = Duration::from_secs(15);

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("connected")
}

/// Everything the server sends until it closes the connection, or `None` if it is still open
/// after `bound`.
async fn read_until_closed(
    stream: &mut (impl AsyncReadExt + Unpin),
    bound: Duration,
) -> Option<String> {
    let mut received = Vec::new();
    let until_closed = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(bound, until_closed).await.ok()?;
    Some(String::from_utf8_lossy(&received).into_owned())
}

/// Reads one whole response (headers and a `Content-Length` body) off a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end_of_head) = text.find("\r\n\r\n") {
            let length = text[..end_of_head]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .expect("a content-length");
            if received.len() >= end_of_head + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an answer")
            .expect("read");
        assert!(n > 0, "closed before the response was whole: {text:?}");
        received.extend_from_slice(&chunk[..n]);
    }
}

const HEALTH_REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: keyward\r\n\r\n";

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let app = TestApp::spawn_with(&SHORT_TIMEOUTS).await;
    let mut silent = connect(&app).await;
    let received = read_until_closed(&mut silent, CLOSE_BOUND).await;
    assert_eq!(received.as_deref(), Some(""), "closed without an answer");
}

#[tokio::test]
async fn partial_and_trickled_headers_are_cut_off() {
    let app = TestApp::spawn_with(&SHORT_TIMEOUTS).await;
    let mut partial = connect(&app).await;
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: keyward\r\n")
        .await
        .expect("sent");
    assert!(
        read_until_closed(&mut partial, CLOSE_BOUND).await.is_some(),
        "a header that stops halfway is closed"
    );

    // One byte every 200 ms never completes the head within the header timeout.
    let (mut reader, mut writer) = connect(&app).await.into_split();
    let trickle = tokio::spawn(async move {
        let head = format!(
            "GET /healthz HTTP/1.1\r\nHost: keyward\r\nX-Slow: {}\r\n\r\n",
            "a".repeat(200)
        );
        for byte in head.bytes() {
            if writer.write_all(&[byte]).await.is_err() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        true
    });
    let received = read_until_closed(&mut reader, CLOSE_BOUND).await;
    assert_eq!(
        received.as_deref(),
        Some(""),
        "a trickled head is closed unanswered"
    );
    trickle.abort();
}

#[tokio::test]
async fn a_trickled_body_gets_408_and_the_connection_closes() {
    let app = TestApp::spawn_with(&SHORT_TIMEOUTS).await;
    let (mut reader, mut writer) = connect(&app).await.into_split();
    let head = format!(
        "POST /api/v1/usage HTTP/1.1\r\nHost: keyward\r\nAuthorization: Bearer {SERVICE_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 10000\r\n\r\n{{"
    );
    writer.write_all(head.as_bytes()).await.expect("sent");
    let trickle = tokio::spawn(async move {
        for _ in 0..200 {
            if writer.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let received = read_until_closed(&mut reader, CLOSE_BOUND)
        .await
        .expect("the connection is closed");
    assert!(received.starts_with("HTTP/1.1 408"), "{received:?}");
    trickle.abort();
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let app = TestApp::spawn_with(&SHORT_TIMEOUTS).await;
    let mut connection = connect(&app).await;
    connection.write_all(HEALTH_REQUEST).await.expect("sent");
    assert!(read_response(&mut connection)
        .await
        .starts_with("HTTP/1.1 200"));
    // Idle longer than the header timeout but within the idle timeout: still usable.
    tokio::time::sleep(Duration::from_secs(2)).await;
    connection.write_all(HEALTH_REQUEST).await.expect("sent");
    assert!(read_response(&mut connection)
        .await
        .starts_with("HTTP/1.1 200"));
    let received = read_until_closed(&mut connection, CLOSE_BOUND).await;
    assert_eq!(received.as_deref(), Some(""), "closed after idling");
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let app = TestApp::spawn_with(&[("KEYWARD_MAX_CONNECTIONS", "3")]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        // A whole exchange first, so each of these is surely accepted before the next connects.
        let mut connection = connect(&app).await;
        connection.write_all(HEALTH_REQUEST).await.expect("sent");
        assert!(read_response(&mut connection)
            .await
            .starts_with("HTTP/1.1 200"));
        held.push(connection);
    }
    let mut waiting = connect(&app).await;
    waiting.write_all(HEALTH_REQUEST).await.expect("sent");
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(1500), waiting.peek(&mut byte)).await;
    assert!(
        early.is_err(),
        "the fourth connection is not served while three are open"
    );
    // The open ones still work.
    held[0].write_all(HEALTH_REQUEST).await.expect("sent");
    assert!(read_response(&mut held[0])
        .await
        .starts_with("HTTP/1.1 200"));

    drop(held.remove(1));
    assert!(read_response(&mut waiting)
        .await
        .starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = TestApp::spawn().await;
    let metrics = || async {
        app.http
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("sent")
            .text()
            .await
            .expect("text")
    };
    let send_made_up = |n: usize| {
        let method = Method::from_bytes(format!("MADEUP{n}").as_bytes()).expect("a token");
        app.http.request(method, app.url("/healthz")).send()
    };
    // The first made-up method and the first /metrics create their series; later ones must not.
    send_made_up(0).await.expect("sent");
    metrics().await;
    let before = metrics().await;
    for n in 1..200 {
        send_made_up(n).await.expect("sent");
    }
    let after = metrics().await;
    assert!(
        !after.lines().any(|l| l.contains("MADEUP")),
        "no series is named after a made-up method"
    );
    assert!(
        after.lines().any(|l| l.contains(r#"method="other""#)
            && l.contains(r#"route="/healthz""#)
            && l.ends_with(" 200")),
        "they are all counted as `other`: {after}"
    );
    assert!(
        after.len() < before.len() + 512,
        "metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
}

#[tokio::test]
async fn json_with_trailing_bytes_is_refused() {
    let app = TestApp::spawn().await;
    for body in [r#"{"name": "a"} xyz"#, r#"{"name": "a"}{"name": "b"}"#] {
        let response = app
            .http
            .post(app.url("/api/v1/admin/keys"))
            .bearer_auth(crate::support::app::ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: serde_json::Value = response.json().await.expect("json");
        assert_eq!(error["error"]["field"], "body", "{error}");
    }
    assert_eq!(app.key_total().await, 0, "nothing was created");
    // Trailing whitespace is not trailing data.
    let response = app
        .http
        .post(app.url("/api/v1/admin/keys"))
        .bearer_auth(crate::support::app::ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{\"name\": \"a\"} \r\n")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_bad_return_target_is_refused_before_anything_changes() {
    let app = crate::dashboard::spawn().await;
    let client = browser_like();
    let csrf = sign_in(&app, &client).await;
    let (id, _) = app.create_key(json!({"name": "target"})).await;
    let toggle = |target: Option<&str>| {
        let mut form = vec![("_csrf", csrf.clone()), ("isActive", "false".to_string())];
        if let Some(target) = target {
            form.push(("return", target.to_string()));
        }
        client
            .post(app.url(&format!("/keys/{id}/active")))
            .form(&form)
            .send()
    };
    for bad in [
        "/keys/\r\nX-Injected: 1",
        "/keys\r\nX-Injected: 1",
        "/keys\n",
        "//evil.example/keys",
        "/\\evil.example",
        "https://evil.example/",
        "keys",
        "/\t/evil.example",
    ] {
        let response = toggle(Some(bad)).await.expect("sent");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        let page = response.text().await.expect("html");
        assert!(page.contains("return"), "the error names the field: {page}");
        assert_eq!(
            app.get_key(&id).await["isActive"],
            true,
            "nothing saved for {bad:?}"
        );
    }
    let back = format!("/keys/{id}");
    let response = toggle(Some(&back)).await.expect("sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], back.as_str());
    assert_eq!(app.get_key(&id).await["isActive"], false);
    let response = toggle(None).await.expect("sent");
    assert_eq!(response.headers()["location"], "/keys");
}

#[tokio::test]
async fn account_links_encode_the_id_and_unknown_accounts_are_404() {
    let app = crate::dashboard::spawn().await;
    let client = browser_like();
    sign_in(&app, &client).await;
    let account = "../../logout";
    let encoded = "/accounts/..%2F..%2Flogout";
    let (id, _) = app
        .create_key(json!({"name": "bound", "claudeAccountId": account}))
        .await;
    let page = |path: String| {
        let client = client.clone();
        let url = app.url(&path);
        async move {
            let response = client.get(url).send().await.expect("sent");
            let status = response.status();
            (status, response.text().await.expect("html"))
        }
    };
    // Bound but never used: known, so its page exists.
    assert_eq!(page(encoded.to_string()).await.0, StatusCode::OK);
    let usage = json!({"keyId": id, "accountId": account, "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": 5, "output_tokens": 5}});
    assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);

    for listing in [
        "/accounts".to_string(),
        "/keys".to_string(),
        format!("/keys/{id}"),
    ] {
        let (status, html) = page(listing.clone()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains(&format!(r#"href="{encoded}""#)),
            "{listing}: {html}"
        );
        assert!(!html.contains(r#"href="/accounts/../"#), "{listing}");
    }
    let (status, html) = page(encoded.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Account <code>"), "{html}");
    assert_eq!(
        page("/accounts/nobody".into()).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        page("/accounts/nobody%2Fat%2Fall".into()).await.0,
        StatusCode::NOT_FOUND
    );
}
