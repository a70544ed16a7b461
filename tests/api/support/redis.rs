//! The test's own Redis: one `redis-server` on a free port, or, with
//! `KEYWARD_TEST_REDIS=cluster`, a real 3-master Redis Cluster on free loopback ports.
//! Killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

struct Node {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

pub struct RedisServer {
    nodes: Vec<Node>,
    cluster: bool,
    extra_args: Vec<String>,
}

/// Whether this test run uses Redis Cluster (set by `.ci/test` for the second pass).
pub fn cluster_mode() -> bool {
    std::env::var("KEYWARD_TEST_REDIS").is_ok_and(|v| v == "cluster")
}

/// A port below 45000 whose cluster bus port (+10000) is free as well. Ports are handed out
/// from a counter (seeded by the process id) so parallel tests never pick the same one.
fn free_cluster_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    loop {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + ((std::process::id() * 7 + step) % 25_000) as u16;
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// Starts with extra `redis-server` arguments (e.g. persistence settings).
    pub fn start_with(extra_args: &[&str]) -> RedisServer {
        Self::start_mode(cluster_mode(), extra_args)
    }

    /// Starts one server or a 3-master cluster as asked, whatever `KEYWARD_TEST_REDIS` says
    /// (the bench chooses with its own `BENCH_REDIS`).
    pub fn start_mode(cluster: bool, extra_args: &[&str]) -> RedisServer {
        let count = if cluster { 3 } else { 1 };
        let nodes = (0..count)
            .map(|_| Node {
                port: if cluster {
                    free_cluster_port()
                } else {
                    super::free_port()
                },
                dir: tempfile::tempdir().expect("temp dir"),
                child: None,
            })
            .collect();
        let mut server = RedisServer {
            nodes,
            cluster,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        server.run();
        if cluster {
            let mut create = Command::new("redis-cli");
            create.arg("--cluster").arg("create");
            for node in &server.nodes {
                create.arg(format!("127.0.0.1:{}", node.port));
            }
            let output = create
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .output()
                .expect("redis-cli is installed");
            assert!(
                output.status.success(),
                "cluster create failed: {}",
                String::from_utf8_lossy(&output.stdout)
            );
            server.wait_for_cluster();
        }
        server
    }

    /// The URL keyward is given: one node, or every node comma-separated for a cluster.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The port of every node, in the order of `url()`.
    #[allow(dead_code)] // Used by the bench (tests/bench), which shares this harness.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    fn run(&mut self) {
        for node in &mut self.nodes {
            let mut command = Command::new("redis-server");
            command
                .arg("--port")
                .arg(node.port.to_string())
                .arg("--bind")
                .arg("127.0.0.1")
                .arg("--dir")
                .arg(node.dir.path())
                .args(["--save", "", "--appendonly", "no"])
                .args(&self.extra_args)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if self.cluster {
                // Surviving masters keep serving their slots when one fails (as production
                // deployments without replicas should be configured); failures show in 3 s.
                command
                    .args([
                        "--cluster-enabled",
                        "yes",
                        "--cluster-require-full-coverage",
                        "no",
                    ])
                    .args(["--cluster-node-timeout", "3000", "--cluster-config-file"])
                    .arg(node.dir.path().join("nodes.conf"));
            }
            node.child = Some(command.spawn().expect("redis-server is installed"));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in self.nodes.iter().map(|n| n.port).collect::<Vec<_>>() {
            while node_cli(port, &["PING"]).trim() != "PONG" {
                assert!(
                    Instant::now() < deadline,
                    "redis-server did not start on {port}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn wait_for_cluster(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &self.nodes {
            while !node_cli(node.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                assert!(Instant::now() < deadline, "cluster did not come up");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Kills every node (SIGKILL: nothing is flushed, as in a crash).
    pub fn kill(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Starts every node again on the same ports and directories (a cluster keeps its
    /// nodes.conf, so it re-forms).
    pub fn restart(&mut self) {
        self.kill();
        self.run();
        if self.cluster {
            self.wait_for_cluster();
        }
    }

    /// Runs one `redis-cli` command (following cluster redirects) and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut all = vec!["-c"];
        all.extend_from_slice(args);
        node_cli(self.nodes[0].port, &all)
    }

    /// Every key with its serialized value and whether it expires, sorted: equal before and
    /// after something means that something changed no data.
    pub fn contents(&self) -> Vec<(String, String, bool)> {
        let mut names = self.all_keys();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let dump = self.cli(&["DUMP", &name]);
                let expires = self.cli(&["PTTL", &name]).trim() != "-1";
                (name, dump, expires)
            })
            .collect()
    }

    /// Every key name in this test's Redis (tests may scan; keyward's request paths never do).
    pub fn all_keys(&self) -> Vec<String> {
        self.nodes
            .iter()
            .flat_map(|n| {
                node_cli(n.port, &["--scan"])
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl RedisServer {
    /// Kills one node (cluster mode) as in a crash.
    pub fn kill_node(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The index of the node that holds `key`, if any.
    pub fn node_holding(&self, key: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| node_cli(n.port, &["EXISTS", key]).trim() == "1")
    }

    /// How many keys each node holds (one entry for a single server).
    pub fn keys_per_node(&self) -> Vec<usize> {
        self.nodes
            .iter()
            .map(|n| node_cli(n.port, &["--scan"]).lines().count())
            .collect()
    }
}

fn node_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli is installed");
    String::from_utf8_lossy(&output.stdout).to_string()
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
