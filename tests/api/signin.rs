//! Dashboard sign-in hardening: bounded password hashing, throttles per address and per
//! address+username counted before any hash, sessions ended by a password reset, nothing
//! stored for anonymous visitors, and usernames limited and logged escaped.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::header::{LOCATION, RETRY_AFTER, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

use crate::support::app::keyward_command;
use crate::support::{RedisServer, TestApp};

const PASSWORD: &str = "signin-password-1";
/// The throttle counters of the test client's address (tests connect from 127.0.0.1).
const LOCAL_ADDRESS_COUNTER: &str = "kw:login:{127.0.0.1}:addr";

/// A cookie-keeping client that does not follow redirects, connecting from `from`.
fn client_from(from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .local_address(from)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

fn client() -> reqwest::Client {
    client_from(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

fn csrf_of(html: &str) -> String {
    let marker = r#"name="_csrf" value=""#;
    let start = html.find(marker).expect("csrf field") + marker.len();
    html[start..start + 64].to_string()
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect()
}

/// Opens the sign-in form (keeping its cookie in `client`) and returns the form's token.
async fn open_form(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    csrf_of(&response.text().await.expect("html"))
}

async fn submit(
    client: &reqwest::Client,
    base: &str,
    csrf: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/login"))
        .form(&[
            ("_csrf", csrf),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .expect("sent")
}

/// Opens the form and signs in as `admin`; returns the response to the form.
async fn sign_in(client: &reqwest::Client, base: &str, password: &str) -> reqwest::Response {
    let csrf = open_form(client, base).await;
    submit(client, base, &csrf, "admin", password).await
}

/// How many argon2 hashes or checks keyward ran so far (its Prometheus counter).
async fn hashes_run(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(r#"keyward_password_hashes_total{outcome="run"} "#))
        .map(|n| n.trim().parse().expect("a count"))
        .unwrap_or(0)
}

fn count(statuses: &[StatusCode], wanted: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == wanted).count()
}

/// keyward as a child process whose pid and log output (stderr) the test can read.
struct WatchedApp {
    address: String,
    redis: RedisServer,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    _data_dir: tempfile::TempDir,
}

impl WatchedApp {
    fn start(env: &[(&str, &str)]) -> WatchedApp {
        let redis = RedisServer::start();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut child = keyward_command(&redis.url(), data_dir.path(), env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("keyward runs");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("keyward listening on ") {
                    let _ = address_tx.send(address.to_string());
                }
            }
        });
        let address = address_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("keyward prints its address");
        WatchedApp {
            address,
            redis,
            child,
            log,
            _data_dir: data_dir,
        }
    }

    /// The process's peak resident memory (VmHWM) in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// Waits until keyward logged a line containing `needle`; returns the whole log then.
    async fn wait_for_log(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log.lock().expect("lock").clone();
            if log.iter().any(|l| l.contains(needle)) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "keyward never logged {needle:?}: {log:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for WatchedApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_parallel_sign_in_flood_with_new_usernames_stays_under_128_mib() {
    // The address throttle is raised out of the way: the hashing bound alone must hold memory.
    let app = WatchedApp::start(&[
        ("KEYWARD_ADMIN_PASSWORD", PASSWORD),
        ("KEYWARD_LOGIN_MAX_FAILURES_PER_ADDRESS", "1000000"),
    ]);
    let base = app.address.clone();
    let flooder = client();
    let csrf = open_form(&flooder, &base).await;
    let tries = (0..200).map(|i| {
        let (flooder, base, csrf) = (flooder.clone(), base.clone(), csrf.clone());
        async move {
            submit(&flooder, &base, &csrf, &format!("flood-{i}"), "guess")
                .await
                .status()
        }
    });
    let statuses = join_all(tries).await;
    let refused = count(&statuses, StatusCode::UNAUTHORIZED);
    let busy = count(&statuses, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused > 0, "some passwords were checked: {statuses:?}");
    assert_eq!(refused + busy, 200, "only 401 or a busy 503: {statuses:?}");
    let peak_mib = app.peak_rss_kib() / 1024;
    println!("peak RSS after a 200-request sign-in flood: {peak_mib} MiB ({refused} checked, {busy} busy)");
    assert!(peak_mib < 128, "peak RSS {peak_mib} MiB");
    // The admin still signs in afterwards.
    let response = sign_in(&client(), &base, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn busy_hashing_answers_503_at_once_without_hashing_or_counting() {
    let app = TestApp::spawn_with(&[
        ("KEYWARD_ADMIN_PASSWORD", PASSWORD),
        ("KEYWARD_PASSWORD_HASH_CONCURRENCY", "1"),
        ("KEYWARD_PASSWORD_HASH_WAIT_MS", "0"),
    ])
    .await;
    let base = app.address.clone();
    let browser = client();
    let csrf = open_form(&browser, &base).await;
    let hashes_before = hashes_run(&base).await;
    let tries = (0..20).map(|i| {
        let (browser, base, csrf) = (browser.clone(), base.clone(), csrf.clone());
        async move {
            let response = submit(&browser, &base, &csrf, &format!("user-{i}"), "guess").await;
            let status = response.status();
            let retry_after = response.headers().contains_key(RETRY_AFTER);
            let html = response.text().await.expect("html");
            (status, retry_after, html)
        }
    });
    let answers = join_all(tries).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|(s, _, _)| *s).collect();
    let busy = count(&statuses, StatusCode::SERVICE_UNAVAILABLE);
    let refused = count(&statuses, StatusCode::UNAUTHORIZED);
    assert!(busy > 0, "one hashing slot, no wait: {statuses:?}");
    assert_eq!(busy + refused, 20, "{statuses:?}");
    for (status, retry_after, html) in &answers {
        if *status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(*retry_after && html.contains("Sign-in is busy"), "{html}");
        }
    }
    assert_eq!(
        hashes_run(&base).await - hashes_before,
        refused as u64,
        "a busy answer runs no hash"
    );
    assert_eq!(
        app.redis.cli(&["GET", LOCAL_ADDRESS_COUNTER]).trim(),
        refused.to_string(),
        "a busy answer is not counted as a failure"
    );
}

#[tokio::test]
async fn the_address_throttle_refuses_new_usernames_before_any_hash() {
    let app = TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]).await;
    let base = app.address.clone();
    let attacker = client();
    let csrf = open_form(&attacker, &base).await;
    // 20 failures per address by default, each for a different username.
    for i in 0..20 {
        let response = submit(&attacker, &base, &csrf, &format!("guess-{i}"), "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "try {i}");
    }
    let hashes_before = hashes_run(&base).await;
    for username in ["another-new-name", "admin"] {
        let response = submit(&attacker, &base, &csrf, username, PASSWORD).await;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{username}"
        );
        let wait: u64 = response.headers()[RETRY_AFTER]
            .to_str()
            .expect("text")
            .parse()
            .expect("seconds");
        assert!((1..=15 * 60).contains(&wait), "{wait}");
        assert!(response
            .text()
            .await
            .expect("html")
            .contains("Too many failed sign-ins"));
    }
    assert_eq!(
        hashes_run(&base).await,
        hashes_before,
        "a throttled sign-in runs no hash"
    );
    // Another address is not affected.
    let elsewhere = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let response = sign_in(&elsewhere, &base, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn parallel_tries_cannot_race_past_the_username_limit() {
    // One hashing slot keeps the checks in line, so the test sees the counting, not timing.
    let app = TestApp::spawn_with(&[
        ("KEYWARD_ADMIN_PASSWORD", PASSWORD),
        ("KEYWARD_PASSWORD_HASH_CONCURRENCY", "1"),
        ("KEYWARD_PASSWORD_HASH_WAIT_MS", "30000"),
    ])
    .await;
    let base = app.address.clone();
    let attacker = client();
    let csrf = open_form(&attacker, &base).await;
    let start = Arc::new(tokio::sync::Barrier::new(25));
    let tries = (0..25).map(|i| {
        let (attacker, base, csrf, start) =
            (attacker.clone(), base.clone(), csrf.clone(), start.clone());
        // 24 wrong passwords and the right one in the middle.
        let password = if i == 12 { PASSWORD } else { "wrong-password" };
        tokio::spawn(async move {
            start.wait().await;
            submit(&attacker, &base, &csrf, "admin", password)
                .await
                .status()
        })
    });
    let statuses: Vec<StatusCode> = join_all(tries)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let checked =
        count(&statuses, StatusCode::UNAUTHORIZED) + count(&statuses, StatusCode::SEE_OTHER);
    assert!(checked <= 5, "at most 5 checked: {statuses:?}");
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        25 - checked,
        "{statuses:?}"
    );
    if count(&statuses, StatusCode::SEE_OTHER) == 0 {
        // The right password arrived after the limit: it waits like any other.
        let response = sign_in(&client(), &base, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}

#[tokio::test]
async fn a_password_reset_ends_every_session_of_the_admin() {
    let app = TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]).await;
    let base = app.address.clone();
    let (laptop, phone) = (client(), client());
    for browser in [&laptop, &phone] {
        assert_eq!(
            sign_in(browser, &base, PASSWORD).await.status(),
            StatusCode::SEE_OTHER
        );
        let keys = browser.get(app.url("/keys")).send().await.expect("sent");
        assert_eq!(keys.status(), StatusCode::OK);
    }
    let api = laptop
        .get(app.url("/api/v1/admin/keys"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        api.status(),
        StatusCode::OK,
        "the admin API takes the session"
    );

    let mut reset = keyward_command(&app.redis.url(), app.data_dir.path(), &[])
        .args([
            "admin",
            "reset-password",
            "--username",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("keyward runs");
    reset
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"new-password-22\n")
        .expect("written");
    let output = reset.wait_with_output().expect("finished");
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("session"));

    for browser in [&laptop, &phone] {
        let keys = browser.get(app.url("/keys")).send().await.expect("sent");
        assert_eq!(
            keys.status(),
            StatusCode::SEE_OTHER,
            "the old session ended"
        );
        assert_eq!(keys.headers()[LOCATION], "/login");
    }
    let api = phone
        .get(app.url("/api/v1/admin/keys"))
        .send()
        .await
        .expect("sent");
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        sign_in(&laptop, &base, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&laptop, &base, "new-password-22").await.status(),
        StatusCode::SEE_OTHER
    );
    let keys = laptop.get(app.url("/keys")).send().await.expect("sent");
    assert_eq!(keys.status(), StatusCode::OK, "a new sign-in works");
}

#[tokio::test]
async fn an_anonymous_visit_to_the_login_page_stores_nothing() {
    let app = TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]).await;
    let base = app.address.clone();
    let visitor = client();
    for _ in 0..3 {
        let response = visitor.get(app.url("/login")).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        let cookies = set_cookies(&response);
        assert!(
            !cookies.iter().any(|c| c.starts_with("keyward_session=")),
            "no session for a visitor: {cookies:?}"
        );
    }
    let pages = reqwest::Client::new();
    for path in ["/login", "/keys", "/accounts"] {
        pages.get(app.url(path)).send().await.expect("sent");
    }
    let sessions: Vec<String> = app
        .redis
        .all_keys()
        .into_iter()
        .filter(|k| k.starts_with("kw:session:"))
        .collect();
    assert!(sessions.is_empty(), "{sessions:?}");

    // The form is still protected: no token, a token without its cookie, a token of another
    // cookie are all refused, and nothing is checked.
    let csrf = open_form(&visitor, &base).await;
    let other_csrf = open_form(&client(), &base).await;
    assert_ne!(csrf, other_csrf);
    let no_token = visitor
        .post(app.url("/login"))
        .form(&[("username", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .expect("sent");
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    let cookieless = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    for (client, token) in [
        (&cookieless, csrf.as_str()),
        (&visitor, other_csrf.as_str()),
    ] {
        let response = submit(client, &base, token, "admin", PASSWORD).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    assert!(app
        .redis
        .cli(&["GET", LOCAL_ADDRESS_COUNTER])
        .trim()
        .is_empty());

    // With its own cookie the form signs in, and only then is a session stored.
    let response = submit(&visitor, &base, &csrf, "admin", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(set_cookies(&response)
        .iter()
        .any(|c| c.starts_with("keyward_session=")));
    let session = app
        .redis
        .all_keys()
        .into_iter()
        .find(|k| k.starts_with("kw:session:"))
        .expect("a session after sign-in");
    assert!(
        app.redis
            .cli(&["TTL", &session])
            .trim()
            .parse::<i64>()
            .expect("ttl")
            > 15 * 60
    );
}

#[tokio::test]
async fn a_form_served_by_one_instance_signs_in_on_another() {
    let app = TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]).await;
    let second = app.second_instance();
    let browser = client();
    let csrf = open_form(&browser, &app.address).await;
    let response = submit(&browser, &second.address, &csrf, "admin", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signing_in_replaces_a_planted_session_id() {
    let app = TestApp::spawn_with(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]).await;
    let base = app.address.clone();
    // An attacker signs in and plants their session cookie in the victim's browser.
    let attacker = client();
    let response = sign_in(&attacker, &base, PASSWORD).await;
    let planted = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("keyward_session="))
        .expect("session cookie");
    let planted_id = planted.split(';').next().expect("name=value").to_string();
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let url: reqwest::Url = base.parse().expect("url");
    jar.add_cookie_str(&format!("{planted_id}; Path=/"), &url);
    let victim = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(Policy::none())
        .build()
        .expect("client");
    let response = sign_in(&victim, &base, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let issued = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("keyward_session="))
        .expect("a new session cookie");
    assert!(!issued.starts_with(&planted_id), "{issued}");
    assert!(
        issued.contains("HttpOnly") && issued.contains("SameSite=Lax"),
        "{issued}"
    );
    // The planted session itself is over.
    let response = attacker.get(app.url("/keys")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn usernames_are_limited_to_64_printable_characters_and_logged_escaped() {
    let app = WatchedApp::start(&[("KEYWARD_ADMIN_PASSWORD", PASSWORD)]);
    let base = app.address.clone();
    let browser = client();
    let csrf = open_form(&browser, &base).await;
    let hashes_before = hashes_run(&base).await;
    let forged = "admin\n2030-01-01T00:00:00Z  INFO keyward: FORGED-LINE";
    for (username, message) in [
        (forged, "line breaks"),
        (&"x".repeat(65) as &str, "at most 64 characters"),
        ("tab\there", "line breaks"),
    ] {
        let response = submit(&browser, &base, &csrf, username, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{username:?}");
        let html = response.text().await.expect("html");
        assert!(html.contains(message), "{username:?}: {html}");
    }
    assert_eq!(
        hashes_run(&base).await,
        hashes_before,
        "refused before any hash"
    );
    assert!(
        !app.redis
            .all_keys()
            .iter()
            .any(|k| k.starts_with("kw:login:")),
        "refused before any Redis work"
    );
    // 64 characters is fine (an unknown name: a plain failure).
    let response = submit(&browser, &base, &csrf, &"y".repeat(64), "guess").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A failed sign-in logs the name escaped too.
    let response = submit(&browser, &base, &csrf, r#"o"brien"#, "guess").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let log = app.wait_for_log(r#"o\"brien"#).await;
    assert!(
        log.iter().any(|l| l.contains(r"admin\n2030-01-01")),
        "the refused name is logged escaped: {log:#?}"
    );
    assert!(
        !log.iter().any(|l| l.starts_with("2030-01-01")),
        "no forged line: {log:#?}"
    );
    assert!(
        log.iter()
            .filter(|l| l.contains("FORGED-LINE"))
            .all(|l| l.contains(r"admin\n2030-01-01")),
        "the name stays inside its own line: {log:#?}"
    );
}
