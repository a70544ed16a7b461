//! One connection type for a single Redis node and for Redis Cluster, so every store
//! operation is written once.

use std::cell::Cell;
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
pub struct RedisConn {
    link: Link,
    /// The connection of calls made on low-priority threads (the dashboard's and the admin
    /// API's). On the relay's connection, a verify sent after a list page's ~350 reads waited
    /// for their ~3,000 reply values to be parsed first: a multiplexed connection answers in
    /// order, and one task parses its replies.
    low_priority_link: Link,
}

#[derive(Clone)]
enum Link {
    /// Reconnects by itself after Redis restarts.
    Single(ConnectionManager),
    Cluster(LazyCluster),
}

thread_local! {
    static LOW_PRIORITY_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as a low-priority one: its Redis calls use their own connection.
/// (A connection's I/O task runs on the runtime of the call that opens it, so the relay's
/// connection is never used, and so never reopened, from a low-priority thread.)
pub fn mark_low_priority_thread() {
    LOW_PRIORITY_THREAD.set(true);
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
    /// Both connections are opened on first use.
    pub fn open(target: &RedisTarget, timeout: Duration) -> redis::RedisResult<RedisConn> {
        Ok(RedisConn {
            link: Link::open(target, timeout)?,
            low_priority_link: Link::open(target, timeout)?,
        })
    }

    /// The low-priority threads' connection, for use from any thread (the health check).
    pub fn low_priority(&self) -> RedisConn {
        RedisConn {
            link: self.low_priority_link.clone(),
            low_priority_link: self.low_priority_link.clone(),
        }
    }

    fn link(&mut self) -> &mut Link {
        if LOW_PRIORITY_THREAD.get() {
            &mut self.low_priority_link
        } else {
            &mut self.link
        }
    }
}

impl Link {
    fn open(target: &RedisTarget, timeout: Duration) -> redis::RedisResult<Link> {
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
        Ok(link)
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.link().req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.link().req_packed_commands(pipeline, offset, count)
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
