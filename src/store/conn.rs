//! One connection type for a single Redis node and for Redis Cluster, so every store
//! operation is written once.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokio::sync::OnceCell;

use crate::config::RedisTarget;

#[derive(Clone)]
pub enum RedisConn {
    /// Reconnects by itself after Redis restarts.
    Single(ConnectionManager),
    Cluster(LazyCluster),
}

/// A cluster connection made on first use (and retried on the next use while the cluster is
/// unreachable), so keyward starts and answers 503 while the cluster is down, as it does for
/// a single node. Once made, the cluster client follows topology changes by itself.
#[derive(Clone)]
pub struct LazyCluster {
    shared: Arc<(ClusterClient, OnceCell<ClusterConnection>)>,
}

impl LazyCluster {
    async fn get(&self) -> redis::RedisResult<ClusterConnection> {
        let (client, connection) = &*self.shared;
        connection
            .get_or_try_init(|| client.get_async_connection())
            .await
            .cloned()
    }
}

impl RedisConn {
    pub fn open(target: &RedisTarget, timeout: Duration) -> redis::RedisResult<RedisConn> {
        match target {
            RedisTarget::Single(url) => {
                let client = redis::Client::open(url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                Ok(RedisConn::Single(ConnectionManager::new_lazy_with_config(
                    client, config,
                )?))
            }
            RedisTarget::Cluster(nodes) => {
                let client = ClusterClient::builder(nodes.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(1)
                    .build()?;
                Ok(RedisConn::Cluster(LazyCluster {
                    shared: Arc::new((client, OnceCell::new())),
                }))
            }
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(lazy) => {
                async move { lazy.get().await?.req_packed_command(cmd).await }.boxed()
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(lazy) => async move {
                lazy.get()
                    .await?
                    .req_packed_commands(pipeline, offset, count)
                    .await
            }
            .boxed(),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(_) => 0,
        }
    }
}
