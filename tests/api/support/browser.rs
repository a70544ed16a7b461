//! Headless Chromium driven through ChromeDriver (fantoccini), one browser per test.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::{Method, Url};
use serde_json::{json, Value};

use super::TestApp;

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        let port = super::free_port();
        // Its own process group, so dropping the browser can stop Chromium with it.
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (apt-get install chromium-driver)");
        let profile = tempfile::tempdir().expect("temp dir");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        // Keeps the console (errors, CSP refusals, failed loads) for `console()`.
        capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::native()
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(error) => {
                    assert!(Instant::now() < deadline, "cannot start Chromium: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, app: &TestApp, path: &str) {
        self.client.goto(&app.url(path)).await.expect("navigates");
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits until the page's path satisfies `ready` (after a click that navigates).
    pub async fn wait_for_path(&self, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let path = self.path().await;
            if ready(&path) && self.ready_state().await == "complete" {
                return path;
            }
            assert!(Instant::now() < deadline, "still at {path}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn ready_state(&self) -> String {
        self.client
            .execute("return document.readyState", vec![])
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.client.find(Locator::Css(css)).await.expect(css);
        element.clear().await.expect("clear");
        element.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .expect(css)
            .click()
            .await
            .expect("click");
    }

    /// The element's text. A page that reloads between finding the element and reading it
    /// (a form's redirect back to the same path) leaves a stale element: find it again.
    pub async fn text(&self, css: &str) -> String {
        let mut tries = 0;
        loop {
            let element = self.client.find(Locator::Css(css)).await.expect(css);
            match element.text().await {
                Ok(text) => return text,
                Err(error) if tries < 20 && error.to_string().contains("stale") => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("text of {css}: {error}"),
            }
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("query")
            .is_empty()
    }

    /// Waits until the element's text satisfies `ready`; returns it.
    pub async fn wait_for_text(&self, css: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            // Absent or stale (the page is being replaced) reads as empty: keep waiting.
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if ready(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "{css} still says {text:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn log_in(&self, app: &TestApp, password: &str) {
        self.goto(app, "/login").await;
        self.fill("#username", "admin").await;
        self.fill("#password", password).await;
        self.click("form.login-card button[type=submit]").await;
        self.wait_for_path(|p| p == "/keys").await;
    }

    /// Saves a screenshot when KEYWARD_SCREENSHOT_DIR is set (for looking at pages by eye).
    pub async fn screenshot(&self, name: &str) {
        if let Ok(dir) = std::env::var("KEYWARD_SCREENSHOT_DIR") {
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(format!("{dir}/{name}.png"), png).expect("write screenshot");
        }
    }

    /// Sends a Chrome DevTools Protocol command through ChromeDriver; returns its result.
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        self.client
            .issue_cmd(Cdp {
                command: command.to_string(),
                params,
            })
            .await
            .unwrap_or_else(|e| panic!("CDP {command}: {e}"))
    }

    /// Emulates `prefers-color-scheme` (`light` or `dark`) for every page from now on.
    pub async fn color_scheme(&self, scheme: &str) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// Sets the viewport to exactly `width` × `height` CSS pixels (a phone below 500 px).
    pub async fn viewport(&self, width: u32, height: u32) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500}),
        )
        .await;
    }

    /// Runs a script that ends by calling its callback (`arguments[arguments.length - 1]`).
    pub async fn run_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, vec![])
            .await
            .expect("async script")
    }

    pub async fn run(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.expect("script")
    }

    /// Runs axe-core on the current page; returns its violations (id, impact, help, nodes).
    /// axe comes from tests/a11y/node_modules (installed by `.ci/setup` with `npm ci`).
    pub async fn axe(&self) -> Vec<AxeViolation> {
        let loaded = self.run("return typeof window.axe === 'object'").await;
        if loaded != json!(true) {
            self.run(&format!("{};\nreturn true;", axe_source())).await;
        }
        let result = self
            .run_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                   .then(r => done(r.violations.map(v => ({
                       id: v.id, impact: v.impact, help: v.help,
                       nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\\s+/g, ' '))
                   }))))
                   .catch(e => done({error: String(e)}));",
            )
            .await;
        serde_json::from_value(result.clone()).unwrap_or_else(|_| panic!("axe failed: {result}"))
    }

    /// The accessible name the browser computes for an element (what a screen reader says).
    pub async fn accessible_name(&self, css: &str) -> String {
        let element = self.client.find(Locator::Css(css)).await.expect(css);
        let name = self
            .client
            .issue_cmd(ComputedLabel {
                element: element.element_id().to_string(),
            })
            .await
            .expect("computed label");
        name.as_str().unwrap_or_default().to_string()
    }

    /// The id of the focused element (empty for `<body>`).
    pub async fn focused_id(&self) -> String {
        let id = self
            .run("return document.activeElement ? document.activeElement.id : ''")
            .await;
        id.as_str().unwrap_or_default().to_string()
    }

    /// Saves a screenshot of the whole page (its first 6000 px) when KEYWARD_SCREENSHOT_DIR is
    /// set, for looking at pages by eye.
    pub async fn full_screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("KEYWARD_SCREENSHOT_DIR") else {
            return;
        };
        let size = self
            .run("return [document.documentElement.clientWidth, document.documentElement.scrollHeight]")
            .await;
        let width = size[0].as_f64().unwrap_or(1440.0);
        let height = size[1].as_f64().unwrap_or(900.0).min(6000.0);
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true,
                       "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("png data"))
            .expect("base64");
        std::fs::write(format!("{dir}/{name}.png"), png).expect("write screenshot");
    }

    /// What the pages printed to the console since the last call (ChromeDriver's `browser`
    /// log): each entry's level (`SEVERE`, `WARNING`, `INFO`, ...) and message. Errors, CSP
    /// refusals and failed loads are `SEVERE`.
    pub async fn console(&self) -> Vec<(String, String)> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("the browser log");
        log.as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|entry| {
                        let field =
                            |name: &str| entry[name].as_str().unwrap_or_default().to_string();
                        (field("level"), field("message"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ends the browser session (ChromeDriver then stops Chromium) and the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// Also after a failed test: kill ChromeDriver's whole process group (Chromium included).
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-9", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

/// One axe-core rule a page breaks, with the elements that break it.
#[derive(Debug, serde::Deserialize)]
pub struct AxeViolation {
    pub id: String,
    pub impact: Option<String>,
    pub help: String,
    pub nodes: Vec<String>,
}

impl AxeViolation {
    /// `serious` and `critical` fail the checks; the rest are printed.
    pub fn is_blocking(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

impl std::fmt::Display for AxeViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let impact = self.impact.as_deref().unwrap_or("?");
        writeln!(f, "[{impact}] {}: {}", self.id, self.help)?;
        for node in &self.nodes {
            writeln!(f, "    {node}")?;
        }
        Ok(())
    }
}

fn axe_source() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/a11y/node_modules/axe-core/axe.min.js"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e}; install it with `bash .ci/setup` (npm ci --prefix tests/a11y)")
    })
}

/// A ChromeDriver extension command: `POST /session/{id}/goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    command: String,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &Url,
        session: Option<&str>,
    ) -> Result<Url, <Url as std::str::FromStr>::Err> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &Url) -> (Method, Option<String>) {
        let body = json!({"cmd": self.command, "params": self.params});
        (Method::POST, Some(body.to_string()))
    }
}

/// A ChromeDriver extension command: `POST /session/{id}/se/log` for the `browser` log.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &Url,
        session: Option<&str>,
    ) -> Result<Url, <Url as std::str::FromStr>::Err> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _url: &Url) -> (Method, Option<String>) {
        (Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

/// `GET /session/{id}/element/{element}/computedlabel` (WebDriver's accessible name).
#[derive(Debug)]
struct ComputedLabel {
    element: String,
}

impl WebDriverCompatibleCommand for ComputedLabel {
    fn endpoint(
        &self,
        base: &Url,
        session: Option<&str>,
    ) -> Result<Url, <Url as std::str::FromStr>::Err> {
        base.join(&format!(
            "session/{}/element/{}/computedlabel",
            session.unwrap_or_default(),
            self.element
        ))
    }

    fn method_and_body(&self, _url: &Url) -> (Method, Option<String>) {
        (Method::GET, None)
    }
}
