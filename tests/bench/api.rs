//! keyward's HTTP API as the bench calls it: create and read keys, and one probe request before
//! each wrk run.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{ADMIN_TOKEN, SERVICE_TOKEN};
use crate::{BenchResult, Context, MODEL};

/// Cheap to clone: reqwest's client shares its connection pool.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base_url: String,
}

pub struct CreatedKey {
    pub id: String,
    pub secret: String,
}

impl Api {
    pub fn new(base_url: &str) -> BenchResult<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Api {
            client,
            base_url: base_url.to_string(),
        })
    }

    pub async fn create_key(&self, fields: &Value) -> BenchResult<CreatedKey> {
        let response = self
            .client
            .post(format!("{}/api/v1/admin/keys", self.base_url))
            .bearer_auth(ADMIN_TOKEN)
            .json(fields)
            .send()
            .await
            .context("POST /api/v1/admin/keys")?;
        let status = response.status();
        let body = response
            .text()
            .await
            .context("reading the create-key response")?;
        if status != reqwest::StatusCode::CREATED {
            return Err(format!("creating a key answered {status}: {body}"));
        }
        let created: Value = serde_json::from_str(&body).context("parsing the created key")?;
        let text = |pointer: &str| {
            created
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("created key has no {pointer}: {body}"))
        };
        Ok(CreatedKey {
            id: text("/key/id")?,
            secret: text("/apiKey")?,
        })
    }

    /// Sends one request the way wrk will, so a wrong body fails loudly here instead of
    /// showing up only as a non-2xx count.
    pub async fn probe(&self, url: &str, body: &Value) -> BenchResult<()> {
        let response = self
            .client
            .post(url)
            .bearer_auth(SERVICE_TOKEN)
            .json(body)
            .send()
            .await
            .context(format!("POST {url}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let refused = serde_json::from_str::<Value>(&text)
            .is_ok_and(|v| v.get("valid") == Some(&Value::Bool(false)));
        if !status.is_success() || refused {
            return Err(format!("POST {url} answered {status}: {text}"));
        }
        Ok(())
    }

    /// A key as the admin API shows it, with live concurrency and usage totals.
    pub async fn get_key(&self, id: &str) -> BenchResult<Value> {
        let url = format!("{}/api/v1/admin/keys/{id}", self.base_url);
        let body = self.admin_get(&url).await?;
        let mut answer: Value = serde_json::from_str(&body).context(format!("parsing {url}"))?;
        match answer.get_mut("key") {
            Some(key) => Ok(key.take()),
            None => Err(format!("GET {url} has no key: {body}")),
        }
    }

    pub async fn admin_get(&self, url: &str) -> BenchResult<String> {
        let response = self
            .client
            .get(url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .context(format!("GET {url}"))?;
        let status = response.status();
        // Reading the body is part of what a client waits for.
        let body = response.text().await.context(format!("reading {url}"))?;
        if status != reqwest::StatusCode::OK {
            return Err(format!("GET {url} answered {status}: {body}"));
        }
        Ok(body)
    }
}

pub fn verify_body(secret: &str, acquire: bool) -> Value {
    json!({"key": secret, "service": "claude", "model": MODEL, "acquire": acquire})
}
