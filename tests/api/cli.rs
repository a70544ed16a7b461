//! The `keyward` command: bad settings, first-start password, CLI subcommands.

use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::app::keyward_command;
use crate::support::{expires_soon, RedisServer, TestApp};

fn run(
    redis: &RedisServer,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> (bool, String, String) {
    let output = keyward_command(&redis.url(), data_dir, env)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("keyward runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn bad_settings_stop_the_start_naming_the_setting() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, value) in [
        ("KEYWARD_BIND", "not-an-address"),
        ("KEYWARD_TIMEZONE", "Mars/Olympus_Mons"),
        ("KEYWARD_LEASE_TTL_SECS", "ten"),
        ("KEYWARD_KEY_PREFIX", "bad prefix!"),
        ("KEYWARD_REDIS_URL", "http://127.0.0.1"),
        ("KEYWARD_COOKIE_SECURE", "perhaps"),
    ] {
        let (ok, _, stderr) = run(&redis, dir.path(), &[(name, value)], &[]);
        assert!(!ok, "{name}={value} must stop the start");
        let setting = name.trim_start_matches("KEYWARD_").to_lowercase();
        assert!(stderr.contains(&setting), "{name}: {stderr}");
    }
    let (ok, _, stderr) = run(&redis, dir.path(), &[], &["--config", "/nonexistent.toml"]);
    assert!(!ok && stderr.contains("/nonexistent.toml"), "{stderr}");
    let (ok, _, stderr) = run(&redis, dir.path(), &[], &["--no-such-flag"]);
    assert!(!ok && stderr.contains("--no-such-flag"), "{stderr}");
}

#[tokio::test]
async fn first_start_prints_a_generated_password_once_and_keeps_the_encryption_key() {
    let app = TestApp::spawn().await;
    let line = app.wait_for_stdout("Generated dashboard password").await;
    let password = line.rsplit(' ').next().expect("password");
    assert!(password.len() >= 20);
    let key_file = app.data_dir.path().join("encryption.key");
    assert!(
        key_file.is_file(),
        "the generated encryption key is kept on disk"
    );
    let encryption_key = std::fs::read_to_string(&key_file).expect("readable");
    let redis_dump: String = app
        .redis
        .all_keys()
        .iter()
        .map(|k| app.redis.cli(&["DUMP", k]))
        .collect();
    assert!(
        !redis_dump.contains(encryption_key.trim()),
        "the encryption key is not in Redis"
    );
    assert!(
        !redis_dump.contains(password),
        "only the password hash is stored"
    );
    assert!(app
        .redis
        .cli(&["HGET", "kw:admin:admin", "passwordHash"])
        .starts_with("$argon2id$"));

    // A second start on the same Redis prints no password.
    let (_, secret) = app.create_key(json!({"name": "survives restarts"})).await;
    let second = crate::support::app::keyward_command(&app.redis.url(), app.data_dir.path(), &[])
        .arg("keys")
        .arg("disable-expired")
        .output()
        .expect("runs");
    assert!(!String::from_utf8_lossy(&second.stdout).contains("password"));
    assert_eq!(app.verify(json!({"key": secret})).await.0, StatusCode::OK);
}

#[tokio::test]
async fn cli_disables_expired_keys_and_resets_the_password() {
    let app = TestApp::spawn().await;
    let soon = expires_soon();
    let (id, _) = app
        .create_key(json!({"name": "old", "expiresAt": soon.at}))
        .await;
    soon.passed().await;
    let (ok, stdout, stderr) = run(
        &app.redis,
        app.data_dir.path(),
        &[],
        &["keys", "disable-expired"],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Disabled 1 expired key."), "{stdout}");
    assert_eq!(app.get_key(&id).await["isActive"], false);
    let (_, stdout, _) = run(
        &app.redis,
        app.data_dir.path(),
        &[],
        &["keys", "disable-expired"],
    );
    assert!(stdout.contains("Disabled 0 expired keys"));

    let before = app.redis.cli(&["HGET", "kw:admin:admin", "passwordHash"]);
    let (ok, stdout, stderr) = run(
        &app.redis,
        app.data_dir.path(),
        &[],
        &["admin", "reset-password"],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("New dashboard password for `admin`"));
    let after = app.redis.cli(&["HGET", "kw:admin:admin", "passwordHash"]);
    assert!(after.starts_with("$argon2id$") && after != before);
    for sub in [
        &["--help"][..],
        &["admin", "reset-password", "--help"],
        &["keys", "disable-expired", "--help"],
    ] {
        let (ok, stdout, _) = run(&app.redis, app.data_dir.path(), &[], sub);
        assert!(ok && stdout.contains("Usage"), "{sub:?}");
    }
}
