//! Test support: a real `redis-server` per test, the real `keyward` binary, HTTP helpers.

pub mod app;
pub mod browser;
pub mod crs;
pub mod redis;

pub use app::TestApp;
pub use redis::RedisServer;

/// A free loopback port (the OS picks it; the listener is closed right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// An expiry a moment ahead, for tests that need expired keys: the API refuses an expiry in the
/// past, so a test creates its keys with `expires_soon().at` and then awaits `passed()`.
pub struct ExpiresSoon {
    pub at: String,
    deadline: std::time::Instant,
}

pub fn expires_soon() -> ExpiresSoon {
    let ahead = std::time::Duration::from_millis(1500);
    let at = chrono::Utc::now() + ahead;
    ExpiresSoon {
        at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        deadline: std::time::Instant::now() + ahead,
    }
}

impl ExpiresSoon {
    /// Waits until the expiry has passed (with a little margin for clock granularity).
    pub async fn passed(&self) {
        let margin = std::time::Duration::from_millis(100);
        tokio::time::sleep_until((self.deadline + margin).into()).await;
    }
}
