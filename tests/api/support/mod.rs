//! Test support: a real `redis-server` per test, the real `keyward` binary, HTTP helpers.

pub mod app;
pub mod browser;
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
