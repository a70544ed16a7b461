//! keyward's integration tests: the real binary, a real redis-server per test, plain HTTP.

mod admin_keys;
mod browser;
mod cli;
mod dashboard;
mod instances;
mod leases;
mod listing;
mod ops;
mod support;
mod usage;
mod usage_safety;
mod verify;
