//! The 10,000 keys the list, search and dashboard figures are taken over, created through the
//! admin API.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::Api;
use crate::{BenchResult, Context};

pub const TOTAL_KEYS: usize = 10_000;
pub const SEED_IN_FLIGHT: usize = 32;
/// Every this-many seeded key carries the search word, so a search matches ~1% of keys.
const NEEDLE_EVERY: usize = 100;
pub const NEEDLE: &str = "needle";
const NAME_WORDS: [&str; 8] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];
const TAGS: [&str; 5] = ["prod", "staging", "dev", "research", "ops"];

/// Creates `count` keys with a fixed number of requests in flight; returns how long it took.
pub async fn seed_keys(api: &Api, count: usize) -> BenchResult<Duration> {
    println!("seeding {count} keys ...");
    let next = Arc::new(AtomicUsize::new(1));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..SEED_IN_FLIGHT {
        let api = api.clone();
        let next = Arc::clone(&next);
        workers.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n > count {
                    return Ok::<(), String>(());
                }
                api.create_key(&seed_fields(n)).await?;
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.context("a seeding task panicked")??;
    }
    Ok(started.elapsed())
}

fn seed_fields(n: usize) -> Value {
    let word = if n.is_multiple_of(NEEDLE_EVERY) {
        NEEDLE
    } else {
        NAME_WORDS[n % NAME_WORDS.len()]
    };
    // Two tags per key, so tag indexes hold overlapping sets as in real use.
    let tags = [TAGS[n % TAGS.len()], TAGS[(n / TAGS.len()) % TAGS.len()]];
    json!({"name": format!("team-{n} {word}"), "tags": tags})
}
