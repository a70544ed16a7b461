//! Wake-ups for requests waiting for a concurrency slot: the scripts that free a slot PUBLISH
//! the first waiter of the key on one channel; each instance keeps one subscriber connection
//! and hands each message to its local waiter, if the waiter is here.

use std::time::Duration;

use futures::StreamExt;

use super::names::WAKE_CHANNEL;
use crate::config::RedisTarget;

/// Listens for wake-ups for ever, calling `wake` with each message (a waiter's member), and
/// reconnects after a second when the connection drops. Classic PUBLISH reaches every node of
/// a cluster, so one node's subscription hears them all.
pub async fn listen_for_wakes(target: RedisTarget, wake: impl Fn(&str) + Send + 'static) {
    let url = match &target {
        RedisTarget::Single(url) => url.clone(),
        RedisTarget::Cluster(nodes) => nodes.first().cloned().unwrap_or_default(),
    };
    loop {
        match subscribe(&url).await {
            Ok(mut pubsub) => {
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    if let Ok(waiter) = message.get_payload::<String>() {
                        wake(&waiter);
                    }
                }
                tracing::warn!("the wake-up subscription ended; reconnecting");
            }
            Err(error) => {
                tracing::warn!(%error, "could not subscribe to wake-ups; retrying");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn subscribe(url: &str) -> redis::RedisResult<redis::aio::PubSub> {
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(WAKE_CHANNEL).await?;
    Ok(pubsub)
}
