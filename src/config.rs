//! Settings: `config/default.toml`, then `--config FILE`, then `KEYWARD_*` env vars; validated once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::domain::clients::ClientMatcher;
use crate::domain::pricing::PricingFiles;
use crate::domain::timezone::Zone;
use crate::domain::username::AdminUsername;

/// Settings whose values are secrets or free text: taken from the environment verbatim, so a
/// password like `12345` stays a string instead of being parsed as a number.
/// Ten years: longer is surely a typo.
const MAX_DELETED_RETENTION_DAYS: u64 = 3650;

/// Each entry takes 80-120 bytes of Redis memory, so the largest log is ~10 MB per key.
const MAX_REQUEST_LOG_PER_KEY: u64 = 100_000;

const VERBATIM_ENV_SETTINGS: [&str; 9] = [
    "encryption_key",
    "admin_password",
    "service_token",
    "admin_token",
    "key_prefix",
    "admin_username",
    "pricing_file",
    "pricing_overrides_file",
    "pricing_fallback_model",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration setting `{setting}`: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
}

fn invalid(setting: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        message: message.into(),
    }
}

/// The settings as written, before validation.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    bind: String,
    redis_url: String,
    key_prefix: String,
    encryption_key: Option<String>,
    admin_username: String,
    admin_password: Option<String>,
    service_token: Option<String>,
    admin_token: Option<String>,
    timezone: String,
    cookie_secure: bool,
    data_dir: PathBuf,
    pricing_file: PathBuf,
    pricing_overrides_file: String,
    pricing_fallback_model: String,
    lease_ttl_secs: u64,
    /// Tests only: seconds added to the clock budgets and Retry-After are computed with.
    test_clock_offset_secs: i64,
    max_waiters_per_key: u64,
    expiry_sweep_secs: u64,
    deleted_retention_days: u64,
    audit_max_entries: u64,
    audit_retention_days: u64,
    request_log_per_key: u64,
    session_idle_minutes: u64,
    redis_timeout_ms: u64,
    password_hash_concurrency: usize,
    password_hash_wait_ms: u64,
    login_max_failures_per_address: u64,
    login_max_failures_per_user: u64,
    self_lookups_per_minute: u64,
    clients: BTreeMap<String, String>,
    header_read_timeout_secs: u64,
    request_body_timeout_secs: u64,
    idle_timeout_secs: u64,
    max_connections: u64,
}

/// Where Redis lives: one node, or the seed nodes of a cluster.
#[derive(Debug, Clone)]
pub enum RedisTarget {
    Single(String),
    Cluster(Vec<String>),
}

/// Validated settings. Secrets are kept out of `Debug` output.
#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub redis: RedisTarget,
    pub key_prefix: String,
    pub encryption_key: Option<String>,
    pub admin_username: String,
    pub admin_password: Option<String>,
    pub service_token: Option<String>,
    pub admin_token: Option<String>,
    pub timezone: Zone,
    pub cookie_secure: bool,
    pub data_dir: PathBuf,
    /// The LiteLLM-format price table.
    pub pricing_file: PathBuf,
    /// Local prices in the same format whose entries win; `None` when the setting is empty.
    pub pricing_overrides_file: Option<PathBuf>,
    /// The model whose prices unknown models pay (flagged as fallback-priced).
    pub pricing_fallback_model: String,
    pub lease_ttl: Duration,
    /// Tests only (debug builds): seconds the key service's clock runs ahead (or behind), so
    /// tests can cross week and month boundaries. A release build refuses a non-zero value.
    pub test_clock_offset_secs: i64,
    /// Most verifies that may wait (`waitMs`) for a concurrency slot of one key at once; past
    /// it a full key refuses at once.
    pub max_waiters_per_key: u64,
    pub expiry_sweep_interval: Option<Duration>,
    /// Soft-deleted keys are erased by the background job this long after their deletion.
    pub deleted_retention: chrono::TimeDelta,
    /// The audit log keeps about this many entries, none older than `audit_retention`.
    pub audit_max_entries: u64,
    pub audit_retention: chrono::TimeDelta,
    /// Usage records each key's request log keeps, newest first (0: no log).
    pub request_log_per_key: u64,
    pub session_idle: Duration,
    pub redis_timeout: Duration,
    /// Argon2 hashes at once (0: one per two cores, 1 to 4) and how long a sign-in
    /// waits for a free one before it is told to try again.
    pub password_hash_concurrency: usize,
    pub password_hash_wait: Duration,
    /// Failed sign-ins allowed per client address, and per address and username, per period.
    pub login_max_failures_per_address: u64,
    pub login_max_failures_per_user: u64,
    /// Key lookups (`/stats`, `GET /api/v1/self`) allowed per client address per minute.
    pub self_lookups_per_minute: u64,
    pub clients: ClientMatcher,
    pub connection_limits: ConnectionLimits,
}

/// How long an HTTP connection may take over each phase, and how many may be open at once.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// From acceptance, or a later request's first byte, until its headers are complete.
    pub header_read_timeout: Duration,
    /// From the request reaching the router until its whole body has arrived.
    pub request_body_timeout: Duration,
    /// A kept-alive connection with no request in progress and nothing arriving.
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("redis", &self.redis)
            .field("key_prefix", &self.key_prefix)
            .field("encryption_key", &set(&self.encryption_key))
            .field("admin_username", &self.admin_username)
            .field("admin_password", &set(&self.admin_password))
            .field("service_token", &set(&self.service_token))
            .field("admin_token", &set(&self.admin_token))
            .field("timezone", &self.timezone)
            .field("cookie_secure", &self.cookie_secure)
            .field("data_dir", &self.data_dir)
            .field("pricing_file", &self.pricing_file)
            .field("pricing_overrides_file", &self.pricing_overrides_file)
            .field("pricing_fallback_model", &self.pricing_fallback_model)
            .field("lease_ttl", &self.lease_ttl)
            .field("expiry_sweep_interval", &self.expiry_sweep_interval)
            .field("deleted_retention", &self.deleted_retention)
            .field("audit_max_entries", &self.audit_max_entries)
            .field("audit_retention", &self.audit_retention)
            .field("request_log_per_key", &self.request_log_per_key)
            .field("session_idle", &self.session_idle)
            .field("redis_timeout", &self.redis_timeout)
            .field("password_hash_concurrency", &self.password_hash_concurrency)
            .field("password_hash_wait", &self.password_hash_wait)
            .field(
                "login_max_failures_per_address",
                &self.login_max_failures_per_address,
            )
            .field(
                "login_max_failures_per_user",
                &self.login_max_failures_per_user,
            )
            .field("self_lookups_per_minute", &self.self_lookups_per_minute)
            .field("clients", &self.clients.ids())
            .field("connection_limits", &self.connection_limits)
            .finish()
    }
}

impl Config {
    /// The price files and fallback model, as the pricing table loads them.
    pub fn pricing_files(&self) -> PricingFiles<'_> {
        PricingFiles {
            prices: &self.pricing_file,
            overrides: self.pricing_overrides_file.as_deref(),
            fallback_model: &self.pricing_fallback_model,
        }
    }

    /// Loads `defaults_file`, then `extra_file`, then the environment.
    pub fn load(defaults_file: &Path, extra_file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(defaults_file, extra_file, std::env::vars())
    }

    /// Like [`Config::load`] with an explicit environment, so tests need not mutate the process's.
    pub fn load_with_env(
        defaults_file: &Path,
        extra_file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        if !defaults_file.is_file() {
            return Err(ConfigError::Load(format!(
                "defaults file {} not found (run keyward from its directory or pass --config)",
                defaults_file.display()
            )));
        }
        let mut figment = Figment::new().merge(Toml::file_exact(defaults_file));
        if let Some(file) = extra_file {
            if !file.is_file() {
                return Err(ConfigError::Load(format!(
                    "--config file {} not found",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        for (name, value) in env.into_iter().filter(|(k, _)| k.starts_with("KEYWARD_")) {
            let setting = name.trim_start_matches("KEYWARD_").to_lowercase();
            figment = if VERBATIM_ENV_SETTINGS.contains(&setting.as_str()) {
                figment.merge(Serialized::default(&setting, value))
            } else {
                // Parsed like figment's Env provider does: numbers and booleans become typed.
                let parsed: figment::value::Value = value
                    .parse()
                    .unwrap_or_else(|_| figment::value::Value::from(value.clone()));
                figment.merge(Serialized::default(&setting, parsed))
            };
        }
        let raw: RawSettings = figment
            .extract()
            .map_err(|e| ConfigError::Load(describe_figment_error(e)))?;
        raw.validate()
    }
}

fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let path = e.path.join(".");
            if path.is_empty() {
                e.to_string()
            } else {
                format!(
                    "setting `{path}` (env KEYWARD_{}): {}",
                    path.to_uppercase(),
                    e.kind
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

impl RawSettings {
    fn validate(self) -> Result<Config, ConfigError> {
        let bind = self.bind.parse().map_err(|_| {
            invalid(
                "bind",
                format!("`{}` is not a host:port address", self.bind),
            )
        })?;
        let redis = parse_redis_url(&self.redis_url)?;
        let prefix_ok = (1..=16).contains(&self.key_prefix.len())
            && self
                .key_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !prefix_ok {
            return Err(invalid(
                "key_prefix",
                "must be 1-16 characters of letters, digits, `_` or `-`",
            ));
        }
        if let Some(key) = &self.encryption_key {
            if key.len() < 16 {
                return Err(invalid("encryption_key", "must be at least 16 characters"));
            }
        }
        if let Err(message) = AdminUsername::parse(self.admin_username.trim()) {
            return Err(invalid("admin_username", message));
        }
        if let Some(password) = non_empty(self.admin_password.clone()) {
            if password.len() < 8 {
                return Err(invalid("admin_password", "must be at least 8 characters"));
            }
        }
        let timezone = Zone::parse(&self.timezone).map_err(|m| invalid("timezone", m))?;
        if self.lease_ttl_secs == 0 || self.lease_ttl_secs > 86_400 {
            return Err(invalid("lease_ttl_secs", "must be between 1 and 86400"));
        }
        if self.test_clock_offset_secs != 0 && !cfg!(debug_assertions) {
            return Err(invalid(
                "test_clock_offset_secs",
                "is for tests only: a release build refuses it (leave it 0)",
            ));
        }
        if self.test_clock_offset_secs.unsigned_abs() > 10 * 365 * 86_400 {
            return Err(invalid("test_clock_offset_secs", "must be within 10 years"));
        }
        if self.max_waiters_per_key > 100_000 {
            return Err(invalid(
                "max_waiters_per_key",
                "must be between 0 and 100000",
            ));
        }
        if self.deleted_retention_days > MAX_DELETED_RETENTION_DAYS {
            return Err(invalid(
                "deleted_retention_days",
                format!("must be between 0 and {MAX_DELETED_RETENTION_DAYS}"),
            ));
        }
        if !(1_000..=10_000_000).contains(&self.audit_max_entries) {
            return Err(invalid(
                "audit_max_entries",
                "must be between 1000 and 10000000",
            ));
        }
        if !(1..=MAX_DELETED_RETENTION_DAYS).contains(&self.audit_retention_days) {
            return Err(invalid(
                "audit_retention_days",
                format!("must be between 1 and {MAX_DELETED_RETENTION_DAYS}"),
            ));
        }
        if self.request_log_per_key > MAX_REQUEST_LOG_PER_KEY {
            return Err(invalid(
                "request_log_per_key",
                format!("must be between 0 (no log) and {MAX_REQUEST_LOG_PER_KEY}"),
            ));
        }
        if self.session_idle_minutes == 0 {
            return Err(invalid("session_idle_minutes", "must be at least 1"));
        }
        if !(50..=60_000).contains(&self.redis_timeout_ms) {
            return Err(invalid("redis_timeout_ms", "must be between 50 and 60000"));
        }
        if self.password_hash_concurrency > 64 {
            return Err(invalid(
                "password_hash_concurrency",
                "must be between 0 (one per two cores, up to 4) and 64",
            ));
        }
        if self.password_hash_wait_ms > 30_000 {
            return Err(invalid(
                "password_hash_wait_ms",
                "must be between 0 and 30000",
            ));
        }
        if !(1..=1_000_000).contains(&self.login_max_failures_per_address) {
            return Err(invalid(
                "login_max_failures_per_address",
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=1_000_000).contains(&self.self_lookups_per_minute) {
            return Err(invalid(
                "self_lookups_per_minute",
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=1000).contains(&self.login_max_failures_per_user) {
            return Err(invalid(
                "login_max_failures_per_user",
                "must be between 1 and 1000",
            ));
        }
        if self.pricing_file.as_os_str().is_empty() {
            return Err(invalid("pricing_file", "must name a price file"));
        }
        let pricing_fallback_model = self.pricing_fallback_model.trim().to_string();
        if pricing_fallback_model.is_empty() {
            return Err(invalid(
                "pricing_fallback_model",
                "must name a model of the price table",
            ));
        }
        let pricing_overrides_file = Some(self.pricing_overrides_file.trim())
            .filter(|path| !path.is_empty())
            .map(PathBuf::from);
        let clients = ClientMatcher::new(&self.clients).map_err(|m| invalid("clients", m))?;
        let connection_limits = self.connection_limits()?;
        Ok(Config {
            bind,
            redis,
            key_prefix: self.key_prefix,
            encryption_key: non_empty(self.encryption_key),
            admin_username: self.admin_username.trim().to_string(),
            admin_password: non_empty(self.admin_password),
            service_token: non_empty(self.service_token),
            admin_token: non_empty(self.admin_token),
            timezone,
            cookie_secure: self.cookie_secure,
            data_dir: self.data_dir,
            pricing_file: self.pricing_file,
            pricing_overrides_file,
            pricing_fallback_model,
            lease_ttl: Duration::from_secs(self.lease_ttl_secs),
            test_clock_offset_secs: self.test_clock_offset_secs,
            max_waiters_per_key: self.max_waiters_per_key,
            expiry_sweep_interval: (self.expiry_sweep_secs > 0)
                .then(|| Duration::from_secs(self.expiry_sweep_secs)),
            deleted_retention: chrono::TimeDelta::days(self.deleted_retention_days as i64),
            audit_max_entries: self.audit_max_entries,
            audit_retention: chrono::TimeDelta::days(self.audit_retention_days as i64),
            request_log_per_key: self.request_log_per_key,
            session_idle: Duration::from_secs(self.session_idle_minutes * 60),
            redis_timeout: Duration::from_millis(self.redis_timeout_ms),
            password_hash_concurrency: self.password_hash_concurrency,
            password_hash_wait: Duration::from_millis(self.password_hash_wait_ms),
            login_max_failures_per_address: self.login_max_failures_per_address,
            login_max_failures_per_user: self.login_max_failures_per_user,
            self_lookups_per_minute: self.self_lookups_per_minute,
            clients,
            connection_limits,
        })
    }

    /// 0 is refused rather than meaning "no limit": an unbounded connection is what these
    /// settings exist to prevent.
    fn connection_limits(&self) -> Result<ConnectionLimits, ConfigError> {
        let seconds = |setting: &'static str, value: u64| {
            if (1..=3600).contains(&value) {
                Ok(Duration::from_secs(value))
            } else {
                Err(invalid(setting, "must be between 1 and 3600 seconds"))
            }
        };
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(invalid("max_connections", "must be between 1 and 1000000"));
        }
        Ok(ConnectionLimits {
            header_read_timeout: seconds(
                "header_read_timeout_secs",
                self.header_read_timeout_secs,
            )?,
            request_body_timeout: seconds(
                "request_body_timeout_secs",
                self.request_body_timeout_secs,
            )?,
            idle_timeout: seconds("idle_timeout_secs", self.idle_timeout_secs)?,
            max_connections: usize::try_from(self.max_connections)
                .map_err(|_| invalid("max_connections", "too large for this platform"))?,
        })
    }
}

fn parse_redis_url(value: &str) -> Result<RedisTarget, ConfigError> {
    let value = value.trim();
    let check = |url: &str| -> Result<(), ConfigError> {
        let scheme_ok = url.starts_with("redis://") || url.starts_with("rediss://");
        redis::parse_redis_url(url)
            .filter(|_| scheme_ok)
            .map(|_| ())
            .ok_or_else(|| {
                invalid(
                    "redis_url",
                    format!("`{url}` is not a redis:// or rediss:// URL"),
                )
            })
    };
    if let Some(rest) = value.strip_prefix("redis+cluster://") {
        let nodes: Vec<String> = rest
            .split(',')
            .map(|n| format!("redis://{}", n.trim()))
            .collect();
        nodes.iter().try_for_each(|n| check(n))?;
        return Ok(RedisTarget::Cluster(nodes));
    }
    let urls: Vec<String> = value.split(',').map(|u| u.trim().to_string()).collect();
    urls.iter().try_for_each(|u| check(u))?;
    match urls.len() {
        1 => Ok(RedisTarget::Single(
            urls.into_iter().next().unwrap_or_default(),
        )),
        _ => Ok(RedisTarget::Cluster(urls)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let defaults = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml"));
        Config::load_with_env(
            defaults,
            None,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn defaults_load() {
        let config = load(&[]).expect("defaults are valid");
        assert_eq!(config.bind.port(), 3000);
        assert_eq!(config.key_prefix, "cr_");
        assert!(matches!(config.redis, RedisTarget::Single(_)));
        assert_eq!(config.request_log_per_key, 1000);
    }

    #[test]
    fn waiters_and_the_test_clock_are_bounded() {
        let config = load(&[]).expect("valid");
        assert_eq!(config.max_waiters_per_key, 100);
        assert_eq!(config.test_clock_offset_secs, 0);
        let message = |env: &[(&str, &str)]| load(env).err().map(|e| e.to_string());
        assert!(message(&[("KEYWARD_MAX_WAITERS_PER_KEY", "100001")])
            .is_some_and(|m| m.contains("max_waiters_per_key")));
        assert!(
            message(&[("KEYWARD_TEST_CLOCK_OFFSET_SECS", "999999999999")])
                .is_some_and(|m| m.contains("test_clock_offset_secs"))
        );
        // Tests run debug builds, which honour the test clock; release builds refuse it.
        let offset = load(&[("KEYWARD_TEST_CLOCK_OFFSET_SECS", "-3600")]);
        assert_eq!(
            offset.map(|c| c.test_clock_offset_secs).ok(),
            cfg!(debug_assertions).then_some(-3600)
        );
    }

    #[test]
    fn numeric_looking_secrets_stay_strings() {
        let config = load(&[
            ("KEYWARD_ADMIN_PASSWORD", "1234567890"),
            ("KEYWARD_SERVICE_TOKEN", "42"),
        ])
        .expect("valid");
        assert_eq!(config.admin_password.as_deref(), Some("1234567890"));
        assert_eq!(config.service_token.as_deref(), Some("42"));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let message =
            |env: &[(&str, &str)]| load(env).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message(&[("KEYWARD_BIND", "nope")]).contains("bind"));
        assert!(message(&[("KEYWARD_TIMEZONE", "Mars/Olympus")]).contains("timezone"));
        assert!(message(&[("KEYWARD_LEASE_TTL_SECS", "soon")]).contains("lease_ttl_secs"));
        assert!(message(&[("KEYWARD_REDIS_URL", "http://x")]).contains("redis_url"));
        assert!(message(&[("KEYWARD_COOKIE_SECURE", "maybe")]).contains("cookie_secure"));
        assert!(message(&[("KEYWARD_NO_SUCH_THING", "1")]).contains("no_such_thing"));
        assert!(message(&[("KEYWARD_HEADER_READ_TIMEOUT_SECS", "0")])
            .contains("header_read_timeout_secs"));
        assert!(message(&[("KEYWARD_REQUEST_BODY_TIMEOUT_SECS", "0")])
            .contains("request_body_timeout_secs"));
        assert!(message(&[("KEYWARD_IDLE_TIMEOUT_SECS", "3601")]).contains("idle_timeout_secs"));
        assert!(message(&[("KEYWARD_MAX_CONNECTIONS", "0")]).contains("max_connections"));
        assert!(
            message(&[("KEYWARD_REQUEST_LOG_PER_KEY", "100001")]).contains("request_log_per_key")
        );
        assert!(message(&[("KEYWARD_REQUEST_LOG_PER_KEY", "-1")]).contains("request_log_per_key"));
    }

    #[test]
    fn sign_in_limits_are_validated() {
        let config = load(&[]).expect("defaults are valid");
        assert_eq!(
            (
                config.login_max_failures_per_address,
                config.login_max_failures_per_user,
                config.password_hash_concurrency,
            ),
            (20, 5, 0)
        );
        for (name, value) in [
            ("KEYWARD_LOGIN_MAX_FAILURES_PER_ADDRESS", "0"),
            ("KEYWARD_LOGIN_MAX_FAILURES_PER_USER", "0"),
            ("KEYWARD_PASSWORD_HASH_CONCURRENCY", "65"),
            ("KEYWARD_PASSWORD_HASH_WAIT_MS", "30001"),
            ("KEYWARD_ADMIN_USERNAME", "line\nbreak"),
        ] {
            let message = load(&[(name, value)]).err().map(|e| e.to_string());
            let setting = name.trim_start_matches("KEYWARD_").to_lowercase();
            assert!(
                message.as_deref().is_some_and(|m| m.contains(&setting)),
                "{name}: {message:?}"
            );
        }
    }

    #[test]
    fn pricing_settings() {
        let config = load(&[]).expect("defaults are valid");
        let files = config.pricing_files();
        assert_eq!(
            files.prices,
            Path::new("config/model_prices_and_context_window.json")
        );
        assert_eq!(
            files.overrides,
            Some(Path::new("config/pricing_overrides.json"))
        );
        assert_eq!(files.fallback_model, "claude-opus-4-1-20250805");
        // An empty overrides setting means none; the fallback model is kept verbatim.
        let config = load(&[
            ("KEYWARD_PRICING_OVERRIDES_FILE", " "),
            ("KEYWARD_PRICING_FALLBACK_MODEL", "2024"),
        ])
        .expect("valid");
        assert_eq!(config.pricing_overrides_file, None);
        assert_eq!(config.pricing_fallback_model, "2024");
        for (name, value) in [
            ("KEYWARD_PRICING_FALLBACK_MODEL", " "),
            ("KEYWARD_PRICING_FILE", ""),
        ] {
            let message = load(&[(name, value)]).err().map(|e| e.to_string());
            let setting = name.trim_start_matches("KEYWARD_").to_lowercase();
            assert!(
                message.as_deref().is_some_and(|m| m.contains(&setting)),
                "{name}: {message:?}"
            );
        }
    }

    #[test]
    fn cluster_urls() {
        let config = load(&[(
            "KEYWARD_REDIS_URL",
            "redis://127.0.0.1:7000,redis://127.0.0.1:7001",
        )])
        .expect("valid");
        assert!(matches!(config.redis, RedisTarget::Cluster(ref n) if n.len() == 2));
        let config = load(&[(
            "KEYWARD_REDIS_URL",
            "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
        )])
        .expect("valid");
        assert!(matches!(config.redis, RedisTarget::Cluster(ref n) if n.len() == 2));
    }
}
