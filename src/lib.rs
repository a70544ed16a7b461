//! keyward: an API-key service with an admin dashboard for LLM API relays, on Redis.
#![deny(unsafe_code)]

pub mod config;
pub mod domain;
pub mod import;
pub mod priority;
pub mod secrets;
pub mod service;
pub mod store;
pub mod web;

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::config::Config;
use crate::domain::pricing::{LivePricing, PricingTable};
use crate::domain::username::AdminUsername;
use crate::service::admins::{AdminServiceSettings, Bootstrap};
use crate::service::keys::KeyServiceSettings;
use crate::service::passwords::{hash_concurrency, PasswordHasher};
use crate::service::{AdminService, KeyService};
use crate::store::{SignInLimits, Store};

/// Failed sign-ins are counted over this period from the first one.
const LOGIN_FAILURE_PERIOD: std::time::Duration = std::time::Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("{0}")]
    Pricing(#[from] domain::pricing::PricingError),
    #[error("{0}")]
    Secrets(#[from] secrets::SecretsError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error(
        "the encryption key in use ({key_source}) is not the one the keys in this Redis were \
         hashed with, so every existing key would answer not_found. Start with the original key: \
         set KEYWARD_ENCRYPTION_KEY to it, or restore the key file {key_file}. (To start over on \
         purpose with an empty keyward, delete the Redis key {check_name}.)"
    )]
    EncryptionKeyMismatch {
        key_source: String,
        key_file: String,
        check_name: &'static str,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// The process-wide Prometheus recorder (a process can install only one).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed, in which case we render an empty page.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The services every entry point (server and CLI) works with.
pub struct Services {
    pub keys: KeyService,
    pub admins: AdminService,
    /// For the start-up checks; requests go through the services.
    store: Store,
    /// The pricing table the key service prices with (replaced on SIGHUP).
    pub pricing: Arc<LivePricing>,
    /// Identifies the encryption key in use, for [`check_encryption_key`].
    pub encryption_fingerprint: String,
}

impl Services {
    /// For commands that write keys: refuses an encryption key other than the one the stored
    /// key hashes were made with (records it when there is none yet).
    pub async fn check_encryption_key(&self, config: &Config) -> Result<(), StartError> {
        check_encryption_key(&self.store, &self.encryption_fingerprint, config).await
    }
}

pub async fn services(config: &Config) -> Result<Services, StartError> {
    let pricing = Arc::new(LivePricing::new(load_pricing(config)?));
    let encryption_key = secrets::encryption_key(config)?;
    let encryption_fingerprint = domain::secret::encryption_fingerprint(&encryption_key);
    let store = Store::connect(&config.redis, config.redis_timeout).await?;
    let admins = AdminService::new(
        store.clone(),
        AdminServiceSettings {
            sign_in_limits: SignInLimits {
                per_address: config.login_max_failures_per_address,
                per_user: config.login_max_failures_per_user,
                period: LOGIN_FAILURE_PERIOD,
            },
            hasher: PasswordHasher::new(
                hash_concurrency(config.password_hash_concurrency),
                config.password_hash_wait,
            ),
            form_secret: encryption_key.clone(),
        },
    );
    let keys = KeyService::new(
        store.clone(),
        KeyServiceSettings {
            key_prefix: config.key_prefix.clone(),
            encryption_key,
            clients: config.clients.clone(),
            pricing: pricing.clone(),
            zone: config.timezone,
            lease_ttl: config.lease_ttl,
            clock_offset: chrono::Duration::seconds(config.test_clock_offset_secs),
            max_waiters: config.max_waiters_per_key,
            request_log_len: config.request_log_per_key,
            audit: store::AuditLimits {
                max_entries: config.audit_max_entries,
                retention: config.audit_retention,
            },
        },
    );
    Ok(Services {
        keys,
        admins,
        store,
        pricing,
        encryption_fingerprint,
    })
}

/// Loads both price files, logging what was read and how long it took.
pub fn load_pricing(config: &Config) -> Result<PricingTable, domain::pricing::PricingError> {
    let started = std::time::Instant::now();
    let table = PricingTable::load(&config.pricing_files())?;
    let summary = table.summary();
    tracing::info!(
        models = table.model_count(),
        names = table.name_count(),
        entries = summary.entries,
        unpriced_entries = summary.unpriced,
        rounded_prices = summary.rounded_prices,
        file = %config.pricing_file.display(),
        overrides = %config
            .pricing_overrides_file
            .as_deref()
            .map_or_else(|| "none".to_string(), |path| path.display().to_string()),
        fallback = %config.pricing_fallback_model,
        load_ms = started.elapsed().as_secs_f64() * 1000.0,
        "pricing table loaded"
    );
    Ok(table)
}

/// Reloads the pricing table on every SIGHUP. The new table is swapped in whole; a file that
/// does not load leaves the table in use untouched (and says why in the log). The handler is
/// installed before this returns, so a SIGHUP never meets the default action (ending the process).
#[cfg(unix)]
fn reload_pricing_on_hangup(config: Arc<Config>, pricing: Arc<LivePricing>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; the pricing table will not reload");
            return;
        }
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let config = config.clone();
            // Parsing a few MB of JSON is CPU work: keep it off the request threads.
            let loaded = tokio::task::spawn_blocking(move || load_pricing(&config)).await;
            match loaded {
                Ok(Ok(table)) => {
                    pricing.replace(table);
                    metrics::counter!("keyward_pricing_reloads_total", "outcome" => "ok")
                        .increment(1);
                    // Tests and operators read this line to know the new prices are in force.
                    println!("keyward pricing reloaded");
                }
                Ok(Err(error)) => {
                    metrics::counter!("keyward_pricing_reloads_total", "outcome" => "failed")
                        .increment(1);
                    tracing::error!(%error, "pricing reload failed; keeping the table in use");
                }
                Err(error) => {
                    tracing::error!(%error, "pricing reload task failed; keeping the table in use");
                }
            }
        }
    });
}

/// Refuses an encryption key other than the one the stored key hashes were made with: started
/// with the wrong one, keyward would answer `not_found` for every existing key and say nothing.
pub async fn check_encryption_key(
    store: &Store,
    fingerprint: &str,
    config: &Config,
) -> Result<(), StartError> {
    match store.check_encryption_fingerprint(fingerprint).await? {
        store::EncryptionKeyCheck::Recorded | store::EncryptionKeyCheck::Matches => Ok(()),
        store::EncryptionKeyCheck::Differs => Err(StartError::EncryptionKeyMismatch {
            key_source: if config.encryption_key.is_some() {
                "from KEYWARD_ENCRYPTION_KEY".into()
            } else {
                format!("from the file {}", secrets::key_file(config).display())
            },
            key_file: secrets::key_file(config).display().to_string(),
            check_name: store::names::ENCRYPTION_CHECK,
        }),
    }
}

/// The same check once Redis answers, for a start while it is down; a mismatch then stops the
/// process, since serving would silently refuse every key.
async fn check_encryption_key_when_reachable(
    store: Store,
    fingerprint: String,
    config: Arc<Config>,
) {
    loop {
        match check_encryption_key(&store, &fingerprint, &config).await {
            Ok(()) => return,
            Err(StartError::Store(error)) => {
                tracing::debug!(%error, "cannot check the encryption key yet; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Err(error) => {
                tracing::error!("{error}");
                eprintln!("keyward: {error}");
                std::process::exit(1);
            }
        }
    }
}

/// Runs the dashboard and the APIs until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> Result<(), StartError> {
    let Services {
        keys,
        admins,
        store,
        pricing,
        encryption_fingerprint,
    } = services(&config).await?;
    #[cfg(unix)]
    reload_pricing_on_hangup(Arc::new(config.clone()), pricing);
    #[cfg(not(unix))]
    drop(pricing);
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| StartError::Bind {
            address: config.bind.to_string(),
            source,
        })?;
    let address = listener.local_addr().map_err(StartError::Serve)?;
    let admin_username = AdminUsername::parse(&config.admin_username).map_err(|message| {
        config::ConfigError::Invalid {
            setting: "admin_username",
            message: message.to_string(),
        }
    })?;
    let bootstrap = bootstrap_admin(
        admins.clone(),
        admin_username,
        config.admin_password.clone(),
    );
    // The admin exists before the first request when Redis is up; otherwise once it is.
    if store.ping().await.is_ok() {
        check_encryption_key(&store, &encryption_fingerprint, &config).await?;
        bootstrap.await;
    } else {
        tokio::spawn(check_encryption_key_when_reachable(
            store.clone(),
            encryption_fingerprint,
            Arc::new(config.clone()),
        ));
        tokio::spawn(bootstrap);
    }
    if let Some(interval) = config.expiry_sweep_interval {
        tokio::spawn(sweep_expired_keys(
            keys.clone(),
            interval,
            config.deleted_retention,
        ));
    }
    // The key list's in-process index: loaded now, then kept current from the change stream.
    tokio::spawn(keys.clone().follow_listing_changes());
    // Wake-ups for verifies waiting for a slot (waitMs), from every instance's releases.
    let waking = keys.clone();
    tokio::spawn(store::listen_for_wakes(
        config.redis.clone(),
        move |waiter| waking.wake(waiter),
    ));
    let state = web::AppState::new(web::AppParts {
        config: Arc::new(config),
        keys,
        admins,
        metrics: metrics_handle(),
        key_data: web::KeyDataCache::new(web::KEY_DATA_ENTRIES),
    });
    tokio::spawn(metrics_upkeep(state.metrics.clone()));
    tracing::info!(%address, "keyward listening");
    // Tests and scripts read this line to learn the port when binding to port 0.
    println!("keyward listening on http://{address}");
    let limits = state.config.connection_limits;
    let sessions = store::RedisSessionStore::new(store);
    let admin_runtime = web::AdminRuntime::start().map_err(StartError::Serve)?;
    web::server::serve(
        listener,
        web::app(state, sessions, admin_runtime.handle()),
        limits,
        shutdown_signal(),
    )
    .await;
    Ok(())
}

/// The recorder keeps every histogram sample until upkeep folds it into the histogram; with no
/// one scraping `/metrics`, the samples of every request would otherwise pile up in memory.
async fn metrics_upkeep(handle: PrometheusHandle) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(5));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        handle.run_upkeep();
    }
}

/// Creates the admin on first start; retries while Redis is unreachable.
async fn bootstrap_admin(
    admins: AdminService,
    username: AdminUsername,
    initial_password: Option<String>,
) {
    loop {
        match admins
            .bootstrap(&username, initial_password.as_deref())
            .await
        {
            Ok(Bootstrap::CreatedWithGenerated(password)) => {
                // Printed, not logged: the one place the generated password ever appears.
                println!("Generated dashboard password for `{username}`: {password}");
                println!(
                    "It is shown only this once; change it with `keyward admin reset-password`."
                );
                return;
            }
            Ok(Bootstrap::CreatedFromSetting) => {
                tracing::info!(?username, "admin created from KEYWARD_ADMIN_PASSWORD");
                return;
            }
            Ok(Bootstrap::AlreadyThere) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot set up the admin yet; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        }
    }
}

/// Disables expired keys and erases the keys deleted longer than `deleted_retention` ago.
async fn sweep_expired_keys(
    keys: KeyService,
    interval: std::time::Duration,
    deleted_retention: chrono::TimeDelta,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match keys.disable_expired(chrono::Utc::now()).await {
            Ok(disabled) => tracing::info!(disabled, "expiry sweep done"),
            Err(error) => tracing::warn!(%error, "expiry sweep failed; will retry"),
        }
        match keys
            .erase_deleted(chrono::Utc::now(), deleted_retention)
            .await
        {
            Ok(0) => {}
            Ok(erased) => tracing::info!(erased, "erased keys deleted past their retention"),
            Err(error) => tracing::warn!(%error, "erasing old deleted keys failed; will retry"),
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// An error and its causes on one line (`outer: cause: root cause`), for logs and the CLI.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
