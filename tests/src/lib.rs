//! Behaviour tests for aegis live in `tests/`; this library holds their harness.

pub mod bench;
pub mod commands;
pub mod dead_letters;
pub mod election;
pub mod events;
pub mod logs;
pub mod metrics;
pub mod middleware;
pub mod nats_cluster;
pub mod nats_jwt;
pub mod nats_server;
pub mod pki;
pub mod process;
pub mod propagation;
pub mod python_commands;
pub mod rpc;
pub mod temp_dir;
pub mod wire_floor;

/// Connects with `options` (no retry of the first connect: the server runs), starts the echo
/// service and calls `echo` once through it: a round trip with the options' credentials and
/// TLS settings, JetStream KV (the registry) included.
pub async fn echo_round_trip(options: aegis::adapters::nats::NatsOptions) {
    use aegis_examples::echo::{EchoRequest, EchoService, EchoServiceClient};
    let backend = options
        .retry_initial_connect(false)
        .connect()
        .await
        .expect("connects with the options");
    let service = aegis::ServiceBuilder::new(EchoService)
        .start(&backend)
        .await
        .expect("echo starts");
    let reply = EchoServiceClient::new(&backend)
        .echo(EchoRequest {
            message: "hi".into(),
        })
        .await
        .expect("echo answers");
    assert_eq!(reply.echo, "hi");
    service.stop().await.expect("stops");
}

/// Connects with `options`, which must be refused within `within`; returns the error's text
/// (`Display` and `Debug`), for checking that it names the cause and shows no secret.
pub async fn refused_within(
    options: aegis::adapters::nats::NatsOptions,
    within: std::time::Duration,
) -> String {
    let started = std::time::Instant::now();
    let error = tokio::time::timeout(within, options.connect())
        .await
        .unwrap_or_else(|_| panic!("connect still waiting after {within:?}"))
        .expect_err("the connection is refused");
    assert!(started.elapsed() < within);
    format!("{error} {error:?}")
}

/// A lookup for [`NatsOptions::from_lookup`](aegis::adapters::nats::NatsOptions::from_lookup)
/// that knows `vars` and nothing else.
pub fn env(vars: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value.clone())
    }
}

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

    /// The servers' process ids (for the CPU they spend).
    pub fn pids(&self) -> Vec<u32> {
        match self {
            BenchServers::One(server) => server.pid().into_iter().collect(),
            BenchServers::Cluster(cluster) => (0..cluster.node_count())
                .filter_map(|i| cluster.pid(i))
                .collect(),
        }
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
