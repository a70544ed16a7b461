//! The real `keyward` binary on a free port against a test's own Redis.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::RedisServer;

pub const SERVICE_TOKEN: &str = "test-service-token";
pub const ADMIN_TOKEN: &str = "test-admin-token";

pub struct TestApp {
    pub address: String,
    pub redis: RedisServer,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    stdout: Arc<Mutex<Vec<String>>>,
    child: Child,
}

/// The keyward command with the test's settings, run from the crate root (for `config/`).
pub fn keyward_command(
    redis_url: &str,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Command {
    keyward_command_of(
        std::path::Path::new(env!("CARGO_BIN_EXE_keyward")),
        redis_url,
        data_dir,
        env,
    )
}

/// The same for a given keyward executable (the bench compares builds).
pub fn keyward_command_of(
    program: &std::path::Path,
    redis_url: &str,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("KEYWARD_BIND", "127.0.0.1:0")
        .env("KEYWARD_REDIS_URL", redis_url)
        .env("KEYWARD_SERVICE_TOKEN", SERVICE_TOKEN)
        .env("KEYWARD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("KEYWARD_DATA_DIR", data_dir)
        // Generous: browser tests load the two cores; an outage shows as refused connections anyway.
        .env("KEYWARD_REDIS_TIMEOUT_MS", "3000");
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(env: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(RedisServer::start(), env).await
    }

    pub async fn spawn_on(redis: RedisServer, env: &[(&str, &str)]) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let process = Process::start(&redis.url(), data_dir.path(), env);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        TestApp {
            address: process.address.clone(),
            redis,
            http,
            data_dir,
            stdout: process.stdout.clone(),
            child: process.into_child(),
        }
    }

    /// Another keyward process on the same Redis and encryption key (a second instance
    /// behind a load balancer).
    pub fn second_instance(&self) -> Process {
        Process::start(&self.redis.url(), self.data_dir.path(), &[])
    }

    /// Lines keyward printed on stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().expect("lock").clone()
    }

    /// Waits until keyward printed a line containing `needle`.
    pub async fn wait_for_stdout(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self.stdout().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "keyward never printed {needle:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The keyward process's id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/healthz` answers 200 (keyward reconnected to Redis by itself).
    pub async fn wait_until_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let health = self
                .http
                .get(self.url("/healthz"))
                .send()
                .await
                .map(|r| r.status());
            if matches!(health, Ok(StatusCode::OK)) {
                return;
            }
            assert!(Instant::now() < deadline, "keyward did not recover");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body read");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, ADMIN_TOKEN, body).await
    }

    pub async fn relay(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, SERVICE_TOKEN, body).await
    }

    /// Creates a key and returns (id, secret).
    pub async fn create_key(&self, fields: Value) -> (String, String) {
        let (status, body) = self
            .admin(Method::POST, "/api/v1/admin/keys", Some(fields))
            .await;
        assert_eq!(status, StatusCode::CREATED, "create failed: {body}");
        (
            body["key"]["id"].as_str().expect("id").to_string(),
            body["apiKey"].as_str().expect("secret").to_string(),
        )
    }

    pub async fn get_key(&self, id: &str) -> Value {
        let (status, body) = self
            .admin(Method::GET, &format!("/api/v1/admin/keys/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "get failed: {body}");
        body["key"].clone()
    }

    pub async fn verify(&self, body: Value) -> (StatusCode, Value) {
        self.relay(Method::POST, "/api/v1/keys/verify", Some(body))
            .await
    }

    pub async fn admit(&self, secret: &str) -> (StatusCode, Value) {
        self.verify(json!({"key": secret, "acquire": true})).await
    }

    pub async fn record_usage(&self, body: Value) -> (StatusCode, Value) {
        self.relay(Method::POST, "/api/v1/usage", Some(body)).await
    }

    pub async fn key_total(&self) -> u64 {
        let (_, body) = self
            .admin(Method::GET, "/api/v1/admin/keys?perPage=1", None)
            .await;
        body["total"].as_u64().expect("total")
    }
}

/// A running keyward process and the address it printed.
pub struct Process {
    pub address: String,
    stdout: Arc<Mutex<Vec<String>>>,
    child: Option<Child>,
}

impl Process {
    pub fn start(redis_url: &str, data_dir: &std::path::Path, env: &[(&str, &str)]) -> Process {
        Self::start_command(keyward_command(redis_url, data_dir, env))
    }

    /// Runs a prepared `keyward_command` (e.g. the bench's, with a test setting removed) and
    /// waits for the address it prints.
    pub fn start_command(mut command: Command) -> Process {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("keyward binary runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("keyward listening on ") {
                    let _ = address_tx.send(address.to_string());
                }
                sink.lock().expect("lock").push(line);
            }
        });
        let address = address_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("keyward prints its address");
        Process {
            address,
            stdout: lines,
            child: Some(child),
        }
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().map(|status| status.success()).unwrap_or(false)
    }

    /// The process id (for its memory in `/proc`), while it runs.
    #[allow(dead_code)] // Used by the bench (tests/bench), which shares this harness.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn into_child(mut self) -> Child {
        self.child.take().expect("running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
