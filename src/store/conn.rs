//! One connection type for a single Redis node and for Redis Cluster, so every store
//! operation is written once.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tokio::runtime::Handle;
use tokio::sync::OnceCell;

use crate::config::RedisTarget;

#[derive(Clone)]
pub struct RedisConn {
    link: Link,
    /// The runtime the connections were opened on, which runs their I/O tasks.
    home: Handle,
}

#[derive(Clone)]
enum Link {
    /// Reconnects by itself after Redis restarts.
    Single(ConnectionManager),
    Cluster(LazyCluster),
}

thread_local! {
    /// Set on the threads of another runtime (the admin side's, at a lower CPU priority).
    static AWAY_FROM_HOME: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one of another runtime's: its Redis calls are handed to the
/// connections' own runtime. The Redis client starts a (re)connection's I/O task on the
/// runtime of the call that needs it, and a connection whose I/O ran on the low-priority
/// admin runtime would make the relay's calls wait for dashboard work.
pub fn mark_thread_away_from_home() {
    AWAY_FROM_HOME.set(true);
}

/// A call made away from home, answered as if made there.
async fn at_home<T: Send + 'static>(
    home: Handle,
    call: impl Future<Output = redis::RedisResult<T>> + Send + 'static,
) -> redis::RedisResult<T> {
    home.spawn(call).await.map_err(|error| {
        redis::RedisError::from(std::io::Error::other(format!(
            "a Redis call's task ended: {error}"
        )))
    })?
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
    /// Opens (lazily) on the current runtime, which becomes the connections' home.
    pub fn open(target: &RedisTarget, timeout: Duration) -> redis::RedisResult<RedisConn> {
        let link = match target {
            RedisTarget::Single(url) => {
                let client = redis::Client::open(url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                Link::Single(ConnectionManager::new_lazy_with_config(client, config)?)
            }
            RedisTarget::Cluster(nodes) => {
                let client = ClusterClient::builder(nodes.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(1)
                    .build()?;
                Link::Cluster(LazyCluster {
                    shared: Arc::new((client, OnceCell::new())),
                })
            }
        };
        Ok(RedisConn {
            link,
            home: Handle::current(),
        })
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        if AWAY_FROM_HOME.get() {
            let mut link = self.link.clone();
            let cmd = cmd.clone();
            let call = async move { link.req_packed_command(&cmd).await };
            return at_home(self.home.clone(), call).boxed();
        }
        self.link.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        if AWAY_FROM_HOME.get() {
            let mut link = self.link.clone();
            let pipeline = pipeline.clone();
            let call = async move { link.req_packed_commands(&pipeline, offset, count).await };
            return at_home(self.home.clone(), call).boxed();
        }
        self.link.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.link.get_db()
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(c) => c.req_packed_command(cmd),
            Link::Cluster(lazy) => {
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
            Link::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(lazy) => async move {
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
            Link::Single(c) => c.get_db(),
            Link::Cluster(_) => 0,
        }
    }
}
