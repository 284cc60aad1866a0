//! Behaviour tests for aegis live in `tests/`; this library holds their harness.

pub mod commands;
pub mod election;
pub mod events;
pub mod nats_cluster;
pub mod nats_server;
pub mod process;
pub mod rpc;

/// Waits until `done()` holds, looking again each time `changed` is notified (with
/// `notify_waiters`); panics after `within`, saying `what`.
pub async fn wait_until(
    changed: &tokio::sync::Notify,
    within: std::time::Duration,
    what: &str,
    done: impl Fn() -> bool,
) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        // Created before the look: a notification after it is not missed.
        let notified = changed.notified();
        if done() {
            return;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() && !done() {
            panic!("timed out waiting for {what}");
        }
    }
}

/// The servers a benchmark runs on: one nats-server, or with `BENCH_CLUSTER=n` (n > 1) a
/// cluster of `n` (streams and buckets then get the automatic replicas: 3).
#[derive(Debug)]
pub enum BenchServers {
    /// One server.
    One(nats_server::NatsServer),
    /// A JetStream cluster.
    Cluster(nats_cluster::NatsCluster),
}

impl BenchServers {
    /// Starts what `BENCH_CLUSTER` says.
    pub fn start() -> Self {
        let nodes = std::env::var("BENCH_CLUSTER")
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(1);
        if nodes > 1 {
            BenchServers::Cluster(nats_cluster::NatsCluster::start(nodes))
        } else {
            BenchServers::One(nats_server::NatsServer::start())
        }
    }

    /// The client URL, comma-separated for a cluster (as `NATS_URL` takes it).
    pub fn url(&self) -> String {
        match self {
            BenchServers::One(server) => server.url(),
            BenchServers::Cluster(cluster) => cluster.urls(),
        }
    }

    /// The URLs one by one, for raw async-nats.
    pub fn urls(&self) -> Vec<String> {
        self.url().split(',').map(str::to_owned).collect()
    }

    /// What it is, for the report.
    pub fn describe(&self) -> String {
        match self {
            BenchServers::One(_) => String::from("one nats-server"),
            BenchServers::Cluster(cluster) => {
                format!("a {}-node cluster (R3)", cluster.node_count())
            }
        }
    }
}
