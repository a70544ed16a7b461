//! The dashboard as admins use it, in real headless Chromium: axe-core on every page in the
//! light and dark schemes at desktop and phone widths, the keyboard, and the layout.
//!
//! axe-core comes from npm (`tests/a11y/package-lock.json`, installed by `.ci/setup`); each
//! check injects `axe.min.js` into the page and fails on `serious` or `critical` violations,
//! printing the rest. With `KEYWARD_SCREENSHOT_DIR=<dir>` the walk also saves a screenshot of
//! every page at 1440 and 390 px in both schemes.

use std::time::Duration;

use fantoccini::key::Key;
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::dashboard::PASSWORD;
use crate::support::browser::Browser;
use crate::support::TestApp;

const SCHEMES: [&str; 2] = ["light", "dark"];
const WIDTHS: [(u32, u32); 2] = [(1440, 900), (390, 844)];

async fn setup() -> (TestApp, Browser) {
    let app = TestApp::spawn_with(&[
        ("KEYWARD_ADMIN_PASSWORD", PASSWORD),
        ("KEYWARD_TIMEZONE", "Asia/Shanghai"),
    ])
    .await;
    let browser = Browser::start().await;
    (app, browser)
}

/// What axe found over the walk: blocking violations fail the test, the rest are printed.
#[derive(Default)]
struct Findings {
    blocking: Vec<String>,
    minor: Vec<String>,
    pages: usize,
}

impl Findings {
    /// Runs axe on the page as it is, at each width, and takes the screenshots.
    async fn check(&mut self, browser: &Browser, scheme: &str, name: &str) {
        for (width, height) in WIDTHS {
            browser.viewport(width, height).await;
            // Let resize handlers (scroll cues, the filters button, charts) run first.
            browser
                .run_async("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));")
                .await;
            let at = format!("{name} ({scheme}, {width} px, {})", browser.path().await);
            for violation in browser.axe().await {
                let line = format!("{at}: {violation}");
                if violation.is_blocking() {
                    self.blocking.push(line);
                } else {
                    self.minor.push(line);
                }
            }
            self.pages += 1;
            browser
                .full_screenshot(&format!("{scheme}-{width}-{name}"))
                .await;
        }
    }
}

/// Data for every page to have something to show: 50 keys in every state, usage on two
/// models through a bound account, limits with budget bars and a running window.
async fn fill(app: &TestApp) -> String {
    let (id, secret) = app
        .create_key(
            json!({"name": "team-alpha", "description": "The alpha team's relay key",
            "tags": ["prod", "team-a"], "concurrencyLimit": 4, "rateLimitWindow": 60,
            "rateLimitRequests": 600, "tokenLimit": 2_000_000, "dailyCostLimit": 0.5,
            "claudeAccountId": "acct-a11y", "expiresAt": "2099-11-01T16:00:00Z"}),
        )
        .await;
    assert_eq!(app.admit(&secret).await.0, StatusCode::OK);
    // Kept for the walk's key holders' page (a test-only Redis key).
    app.redis.cli(&["SET", "kw:a11y:secret", &secret]);
    for (model, input) in [
        ("claude-sonnet-4-5", 120_000),
        ("claude-haiku-4-5", 387_412),
    ] {
        let usage = json!({"keyId": id, "accountId": "acct-a11y", "model": model,
            "usage": {"input_tokens": input, "output_tokens": 2_345, "cache_read_input_tokens": 50_000}});
        assert_eq!(app.record_usage(usage).await.0, StatusCode::OK);
    }
    for n in 2..=50 {
        let mut fields = json!({"name": format!("key-{n:02}"), "tags": ["bulk"]});
        if n % 7 == 0 {
            fields["isActive"] = json!(false);
        }
        if n % 5 == 0 {
            fields["dailyCostLimit"] = json!(20);
            fields["concurrencyLimit"] = json!(2);
        }
        app.create_key(fields).await;
    }
    id
}

#[tokio::test]
async fn every_page_passes_axe_in_both_schemes_at_desktop_and_phone_widths() {
    let (app, browser) = setup().await;
    let mut findings = Findings::default();

    // The check can fail: a picture without a text alternative and grey-on-white text are
    // violations it must report as blocking.
    browser.goto(&app, "/login").await;
    browser
        .run(
            "const main = document.querySelector('main');
              const img = document.createElement('img');
              img.src = '/static/favicon.svg';
              const faint = document.createElement('p');
              faint.textContent = 'Hard to read';
              faint.style.color = '#c8c8c8';
              faint.style.background = '#ffffff';
              main.append(img, faint);",
        )
        .await;
    let probe: Vec<String> = browser
        .axe()
        .await
        .into_iter()
        .filter(|v| v.is_blocking())
        .map(|v| v.id)
        .collect();
    assert!(
        probe.contains(&"image-alt".to_string()) && probe.contains(&"color-contrast".to_string()),
        "axe must catch the planted faults: {probe:?}"
    );

    for scheme in SCHEMES {
        browser.color_scheme(scheme).await;
        browser.goto(&app, "/login").await;
        findings.check(&browser, scheme, "login").await;
        browser.fill("#username", "admin").await;
        browser.fill("#password", "not-the-password").await;
        browser.click("form.login-card button[type=submit]").await;
        // The path stays /login: wait for the answer's message instead.
        browser
            .client
            .wait()
            .for_element(Locator::Css(".flash-error"))
            .await
            .expect("the refusal is shown");
        findings.check(&browser, scheme, "login-error").await;
    }
    browser.log_in(&app, PASSWORD).await;
    for scheme in SCHEMES {
        browser.color_scheme(scheme).await;
        browser.goto(&app, "/keys").await;
        assert!(browser.exists(".empty").await);
        findings.check(&browser, scheme, "keys-empty").await;
    }

    let id = fill(&app).await;
    // Regenerated in each scheme: a key of its own, so team-alpha's secret (the holders' page
    // below looks it up) stays valid.
    let (regenerated_id, _) = app.create_key(json!({"name": "a11y regenerated"})).await;
    let (deleted_id, _) = app.create_key(json!({"name": "a11y deleted"})).await;
    let (status, _) = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/api/v1/admin/keys/{deleted_id}"),
            None,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    for scheme in SCHEMES {
        browser.color_scheme(scheme).await;
        let pages = [
            ("keys-50", "/keys?perPage=50".to_string()),
            ("key-new", "/keys/new".to_string()),
            ("key-detail", format!("/keys/{id}")),
            ("key-edit", format!("/keys/{id}/edit")),
            ("key-delete", format!("/keys/{id}/delete")),
            ("keys-deleted", "/keys?status=deleted".to_string()),
            ("key-deleted-detail", format!("/keys/{deleted_id}")),
            ("key-erase", format!("/keys/{deleted_id}/erase")),
            ("audit", "/audit".to_string()),
            ("keys-batch", "/keys/batch".to_string()),
            ("audit-key", format!("/audit?keyId={id}")),
            ("accounts", "/accounts".to_string()),
            ("account", "/accounts/acct-a11y".to_string()),
            ("admins", "/admins".to_string()),
            ("account-password", "/account/password".to_string()),
            ("logout", "/logout".to_string()),
        ];
        for (name, path) in pages {
            browser.goto(&app, &path).await;
            browser.wait_for_path(|p| p == path).await;
            findings.check(&browser, scheme, name).await;
        }
        assert_eq!(
            browser
                .run("return document.querySelectorAll('tr[data-key-id]').length")
                .await,
            json!(0),
            "the logout page lists nothing"
        );

        // A refused form, then the page with a new key's secret (both reached by a POST).
        browser.goto(&app, "/keys/new").await;
        browser.fill("#name", "").await;
        browser.fill("#concurrencyLimit", "-4").await;
        browser.fill("#dailyCostLimit", "lots").await;
        browser.click("form.key-form button[type=submit]").await;
        browser.wait_for_path(|p| p == "/keys").await;
        assert!(browser.exists("#error-summary").await);
        findings.check(&browser, scheme, "key-new-errors").await;
        browser.goto(&app, "/keys/new").await;
        browser.fill("#name", &format!("created in {scheme}")).await;
        browser.click("form.key-form button[type=submit]").await;
        browser.wait_for_path(|p| p.ends_with("/created")).await;
        findings.check(&browser, scheme, "key-created").await;
        browser.goto(&app, &format!("/keys/{regenerated_id}")).await;
        browser.click("form.regenerate button[type=submit]").await;
        browser.wait_for_path(|p| p.ends_with("/regenerated")).await;
        findings.check(&browser, scheme, "key-regenerated").await;
        browser.goto(&app, "/keys").await;
        browser.click("input[data-select-all]").await;
        browser.click("[data-testid=bulk-apply]").await;
        browser.wait_for_path(|p| p == "/keys/bulk").await;
        findings.check(&browser, scheme, "keys-bulk-confirm").await;
        browser.goto(&app, "/keys/batch").await;
        browser.fill("#count", "2").await;
        browser
            .fill("#namePrefix", &format!("batch-{scheme}"))
            .await;
        browser.click("form.batch-form button[type=submit]").await;
        browser.wait_for_path(|p| p == "/keys/batch/created").await;
        findings.check(&browser, scheme, "keys-batch-created").await;

        // The key holders' page: empty, refused, and showing a key (reached by a POST).
        browser.goto(&app, "/stats").await;
        findings.check(&browser, scheme, "stats").await;
        browser.fill("#key", "cr_not-a-key").await;
        browser.click("#stats-form button[type=submit]").await;
        browser
            .wait_for_text("[data-testid=stats-error]", |t| !t.is_empty())
            .await;
        findings.check(&browser, scheme, "stats-refused").await;
        let secret = app.redis.cli(&["GET", "kw:a11y:secret"]);
        browser.fill("#key", secret.trim()).await;
        browser.click("#stats-form button[type=submit]").await;
        browser
            .wait_for_text("[data-field=name]", |t| t == "team-alpha")
            .await;
        findings.check(&browser, scheme, "stats-key").await;

        // The API reference (the vendored Swagger UI), once it has rendered.
        browser.goto(&app, "/api/docs").await;
        browser
            .wait_for_text("#operations-relay-verifyKey .opblock-summary-path", |t| {
                !t.is_empty()
            })
            .await;
        findings.check(&browser, scheme, "api-docs").await;

        let missing = "/keys/00000000-0000-4000-8000-000000000000";
        browser.goto(&app, missing).await;
        assert!(browser.text("h1").await.contains("Not found"));
        findings.check(&browser, scheme, "error-404").await;
    }

    browser.goto(&app, "/logout").await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for_path(|p| p == "/login").await;
    assert!(browser.text(".flash").await.contains("Signed out"));
    findings.check(&browser, "dark", "login-signed-out").await;
    browser.close().await;

    println!(
        "axe-core checked {} page views; {} minor findings:",
        findings.pages,
        findings.minor.len()
    );
    for line in &findings.minor {
        println!("{line}");
    }
    assert!(
        findings.blocking.is_empty(),
        "serious or critical accessibility violations:\n{}",
        findings.blocking.join("\n")
    );
}

fn keys_typed(key: Key) -> String {
    char::from(key).to_string()
}

async fn row_names(browser: &Browser) -> Vec<String> {
    let names = browser
        .run("return [...document.querySelectorAll('tr[data-key-id] .key-name')].map(a => a.textContent)")
        .await;
    serde_json::from_value(names).expect("names")
}

#[tokio::test]
async fn the_key_list_and_form_work_from_the_keyboard() {
    let (app, browser) = setup().await;
    let (alpha, _) = app.create_key(json!({"name": "team-alpha"})).await;
    app.create_key(json!({"name": "team-beta", "isActive": false}))
        .await;
    app.create_key(json!({"name": "gamma"})).await;
    browser.log_in(&app, PASSWORD).await;

    // An arrow key in a filter select changes the select, not the page, and keeps the focus.
    let status = browser
        .client
        .find(Locator::Css("#status"))
        .await
        .expect("status select");
    status
        .send_keys(&keys_typed(Key::Down))
        .await
        .expect("keys");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(browser.path().await, "/keys", "no submit on an arrow key");
    assert_eq!(browser.focused_id().await, "status");
    assert_eq!(
        browser
            .run("return document.getElementById('status').value")
            .await,
        json!("active")
    );
    // Enter applies, and the focus comes back to the select after the reload.
    status
        .send_keys(&keys_typed(Key::Enter))
        .await
        .expect("keys");
    browser.wait_for_path(|p| p.contains("status=active")).await;
    assert_eq!(browser.focused_id().await, "status");
    assert_eq!(row_names(&browser).await.len(), 2, "only active keys");

    // Sortable headers: a click sorts by the column, Enter on it again flips the order.
    let by_name = "th a.sort-link[href*='sort=name']";
    browser.click(by_name).await;
    browser
        .wait_for_path(|p| p.contains("sort=name") && p.contains("order=asc"))
        .await;
    assert!(
        browser.path().await.contains("status=active"),
        "filters kept"
    );
    let aria_sort = "return document.querySelector(\"th a.sort-link[href*='sort=name']\").closest('th').getAttribute('aria-sort')";
    assert_eq!(browser.run(aria_sort).await, json!("ascending"));
    assert_eq!(row_names(&browser).await, ["gamma", "team-alpha"]);
    browser
        .client
        .find(Locator::Css(by_name))
        .await
        .expect("header")
        .send_keys(&keys_typed(Key::Enter))
        .await
        .expect("keys");
    browser.wait_for_path(|p| p.contains("order=desc")).await;
    assert_eq!(browser.run(aria_sort).await, json!("descending"));
    assert_eq!(row_names(&browser).await, ["team-alpha", "gamma"]);
    let unsorted = browser
        .run("return document.querySelector(\"th a.sort-link[href*='sort=dailyCost']\").closest('th').getAttribute('aria-sort')")
        .await;
    assert_eq!(unsorted, json!("none"));

    // Row buttons say which key they act on.
    let row = format!("tr[data-key-id='{alpha}']");
    for (css, name) in [
        ("a[href$='/edit']", "Edit team-alpha"),
        ("form[action$='/active'] button", "Disable team-alpha"),
        ("a[href$='/delete']", "Delete team-alpha"),
    ] {
        assert_eq!(browser.accessible_name(&format!("{row} {css}")).await, name);
    }

    // A refused form: the focus moves to a summary whose links reach each bad field.
    browser.goto(&app, "/keys/new").await;
    browser.fill("#name", "").await;
    browser.fill("#concurrencyLimit", "-4").await;
    browser.fill("#dailyCostLimit", "lots").await;
    browser.click("form.key-form button[type=submit]").await;
    browser.wait_for_path(|p| p == "/keys").await;
    assert_eq!(browser.focused_id().await, "error-summary");
    let links: Value = browser
        .run("return [...document.querySelectorAll('#error-summary a')].map(a => [a.getAttribute('href'), a.textContent])")
        .await;
    assert_eq!(
        links,
        json!([
            ["#name", "Name is required"],
            [
                "#concurrencyLimit",
                "Concurrent requests must be a whole number, 0 or more"
            ],
            [
                "#dailyCostLimit",
                "Daily cost limit (USD) must be an amount in USD, like 5 or 12.50"
            ],
        ])
    );
    browser
        .client
        .find(Locator::Css("#error-summary a[href='#dailyCostLimit']"))
        .await
        .expect("link")
        .send_keys(&keys_typed(Key::Enter))
        .await
        .expect("keys");
    assert_eq!(browser.focused_id().await, "dailyCostLimit");
    browser.close().await;
}

/// Whether the page is wider than the window, and which table cells stick out of it (a cell in
/// a sideways-scrolling box may: it has its own cue).
const FITS: &str = "return {page: document.documentElement.scrollWidth, view: document.documentElement.clientWidth,
    cut: [...document.querySelectorAll('main td, main th')].filter(c => c.getClientRects().length
        && (c.closest('thead') || c).getBoundingClientRect().right > document.documentElement.clientWidth + 0.5
        && !c.closest('.table-scroll'))
        .map(c => c.tagName + ' ' + (c.dataset.label || c.textContent.trim().slice(0, 20)))}";

#[tokio::test]
async fn the_layout_fits_desktop_and_phone() {
    let (app, browser) = setup().await;
    let id = fill(&app).await;
    browser.log_in(&app, PASSWORD).await;
    browser.viewport(1440, 900).await;

    // The list fits the window at every width: a table where it fits, cards below.
    for width in [1440, 1280, 1279, 761] {
        browser.viewport(width, 900).await;
        browser.goto(&app, "/keys?perPage=50").await;
        let fit = browser.run(FITS).await;
        assert_eq!(fit["page"], fit["view"], "{width} px: {fit}");
        assert_eq!(fit["cut"], json!([]), "{width} px: {fit}");
    }

    // /keys has no scroll box of its own: the page scrolls and the header row sticks.
    browser.viewport(1440, 900).await;
    browser.goto(&app, "/keys?perPage=50").await;
    assert_eq!(browser.text(".list-range").await, "Showing 1–50 of 50");
    let sticky = browser
        .run_async(
            "const done = arguments[0];
             const wrap = document.querySelector('.keys-table').closest('.table-wrap');
             window.scrollTo(0, 2000);
             requestAnimationFrame(() => requestAnimationFrame(() => done({
               overflow: getComputedStyle(wrap).overflowY,
               scrolled: window.scrollY,
               headerTop: document.querySelector('.keys-table thead th').getBoundingClientRect().top,
             })));",
        )
        .await;
    assert_eq!(sticky["overflow"], "visible", "{sticky}");
    assert!(sticky["scrolled"].as_f64() > Some(1000.0), "{sticky}");
    assert!(
        sticky["headerTop"]
            .as_f64()
            .is_some_and(|top| top.abs() < 2.0),
        "{sticky}"
    );
    browser.goto(&app, "/keys?page=3").await;
    assert_eq!(browser.text(".list-range").await, "Showing 41–50 of 50");
    assert_eq!(
        browser
            .run("return document.querySelector('.filters-toggle').hidden")
            .await,
        json!(true),
        "no filters button on a desktop"
    );
    assert_eq!(
        browser
            .run("return document.getElementById('key-filters').hidden")
            .await,
        json!(false)
    );

    // Phones: the filters fold behind a button, cards fit, nothing is cut.
    browser.viewport(390, 844).await;
    browser.goto(&app, "/keys?perPage=50").await;
    let toggle = ".filters-toggle";
    assert_eq!(
        browser
            .run("return document.querySelector('.filters-toggle').hidden")
            .await,
        json!(false)
    );
    let expanded = "return document.querySelector('.filters-toggle').getAttribute('aria-expanded')";
    assert_eq!(browser.run(expanded).await, json!("false"));
    assert_eq!(
        browser
            .run("return document.getElementById('key-filters').hidden")
            .await,
        json!(true)
    );
    browser.click(toggle).await;
    assert_eq!(browser.run(expanded).await, json!("true"));
    assert_eq!(
        browser
            .run("return document.getElementById('key-filters').hidden")
            .await,
        json!(false)
    );
    let keys_fit = browser.run(FITS).await;
    assert_eq!(keys_fit["page"], keys_fit["view"], "{keys_fit}");
    assert_eq!(keys_fit["cut"], json!([]), "{keys_fit}");

    // A model table too wide for a phone scrolls sideways, with a cue and a keyboard stop.
    for path in [format!("/keys/{id}"), "/accounts/acct-a11y".to_string()] {
        browser.goto(&app, &path).await;
        let page_fit = browser.run(FITS).await;
        assert_eq!(page_fit["page"], page_fit["view"], "{path}: {page_fit}");
        let table = browser
            .run("const w = document.querySelector('.table-scroll'); const hint = w.previousElementSibling;
                  return {overflows: w.scrollWidth > w.clientWidth, cue: w.classList.contains('is-scrollable'),
                          hint: hint.classList.contains('scroll-hint') && !hint.hidden, tab: w.getAttribute('tabindex'),
                          total: w.querySelector('tfoot th').textContent}")
            .await;
        assert_eq!(
            table,
            json!({"overflows": true, "cue": true, "hint": true, "tab": "0", "total": "Total"}),
            "{path}"
        );
    }

    // Chart axes show the year when the days cross one, and only then.
    let ticks = browser
        .run_async(
            "const done = arguments[0];
             const draw = (labels) => {
               const box = document.createElement('figure');
               box.className = 'chart-box';
               const canvas = document.createElement('canvas');
               canvas.className = 'chart';
               canvas.dataset.chart = JSON.stringify({type: 'bar', unit: 'tokens', labels,
                 datasets: [{label: 'm', data: labels.map((_, i) => (i + 1) * 1000)}]});
               box.appendChild(canvas);
               document.querySelector('main').appendChild(box);
               window.keyward.drawCharts();
               return Chart.getChart(canvas).scales.x.ticks.map(t => t.label);
             };
             done({crossing: draw(['2025-12-30', '2025-12-31', '2026-01-01', '2026-01-02']),
                   within: draw(['2026-03-01', '2026-03-02'])});",
        )
        .await;
    // (On a phone Chart.js skips some labels; every one shown carries the year or none does.)
    let labels =
        |set: &str| -> Vec<String> { serde_json::from_value(ticks[set].clone()).expect("labels") };
    let crossing = labels("crossing");
    assert!(
        crossing.len() >= 2
            && crossing
                .iter()
                .all(|l| l.len() == 10 && l.starts_with("202")),
        "{ticks}"
    );
    assert_eq!(labels("within"), ["03-01", "03-02"], "{ticks}");
    browser.close().await;
}
