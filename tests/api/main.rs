//! keyward's integration tests: the real binary, a real redis-server per test, plain HTTP.

mod a11y;
mod admin_hardening;
mod admin_keys;
mod audit;
mod browser;
mod cli;
mod crs_source;
mod dashboard;
mod dashboard_ux;
mod errors;
mod http_hardening;
mod instances;
mod leases;
mod lifecycle;
mod lifecycle_browser;
mod listing;
mod logs;
mod metering;
mod ops;
mod signin;
mod support;
mod usage;
mod usage_safety;
mod verify;
