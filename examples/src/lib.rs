//! Runnable examples for aegis (see the `[[example]]` entries), and the service definitions
//! that several of them share.

pub mod echo;
pub mod orders;
pub mod reports;
pub mod shop;

/// Logs to stderr, filtered by `RUST_LOG` (`warn`, `aegis=debug,info`, ...), warnings and
/// errors when it is not set (stdout stays for the examples' own lines). A target filter, not
/// `EnvFilter`: no regex engine in every example binary.
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing::level_filters::LevelFilter::WARN)
        });
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
}

/// The flags every example that connects to NATS takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// The NATS server URL(s), comma-separated [default: nats://127.0.0.1:4222]
    ///
    /// Without it, `NATS_CONTEXT`'s server, if set. Credentials and TLS come from the
    /// environment: `NATS_CREDS`, `NATS_NKEY`, `NATS_TOKEN`, `NATS_USER` and `NATS_PASSWORD`,
    /// `NATS_CA`, `NATS_CERT` and `NATS_KEY`, `NATS_TLS_FIRST`, `NATS_CONTEXT`.
    // The URL may hold a password: `--help` does not show its value.
    #[arg(long, value_name = "URL", env = "NATS_URL", hide_env_values = true)]
    pub server: Option<String>,
}

impl Connection {
    /// The connection options: [`NatsOptions::from_env`](aegis::adapters::nats::NatsOptions::from_env)
    /// with `--server` as `NATS_URL`.
    pub fn options(&self) -> aegis::adapters::nats::NatsOptions {
        aegis::adapters::nats::NatsOptions::from_lookup(|name| match name {
            "NATS_URL" => self.server.clone(),
            other => std::env::var(other).ok(),
        })
    }
}

/// The flag of the examples that export metrics.
#[derive(Debug, Clone, clap::Args)]
pub struct MetricsExport {
    /// Serve Prometheus metrics at http://HOST:PORT/metrics [default: no metrics]
    #[arg(long, value_name = "HOST:PORT", value_parser = metrics_addr)]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// Parses `--metrics-addr`: an address with a port (the exporter does not say which port
/// it got for 0, so nobody could find it).
fn metrics_addr(value: &str) -> Result<std::net::SocketAddr, String> {
    let addr: std::net::SocketAddr = value
        .parse()
        .map_err(|error| format!("`{value}` is not HOST:PORT: {error}"))?;
    if addr.port() == 0 {
        return Err(String::from("port 0: give the port to serve metrics on"));
    }
    Ok(addr)
}

/// The upper bounds of the latency histograms' buckets, in seconds: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl MetricsExport {
    /// With `--metrics-addr`, installs the Prometheus exporter (histograms with
    /// [`LATENCY_BUCKETS`]) serving there, and returns the metrics port that feeds it (give it
    /// to [`NatsOptions::metrics`](aegis::adapters::nats::NatsOptions::metrics)). Call it
    /// inside the Tokio runtime, which then serves the scrapes.
    pub fn install(
        &self,
    ) -> Result<Option<std::sync::Arc<dyn aegis::ports::Metrics>>, Box<dyn std::error::Error>> {
        let Some(addr) = self.metrics_addr else {
            return Ok(None);
        };
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .set_buckets(&LATENCY_BUCKETS)?
            .install()
            .map_err(|error| format!("cannot serve metrics at {addr}: {error}"))?;
        eprintln!("metrics at http://{addr}/metrics");
        Ok(Some(std::sync::Arc::new(aegis::adapters::MetricsRs)))
    }
}

/// Parses an instance id flag.
pub fn instance_id(value: &str) -> Result<aegis::InstanceId, String> {
    aegis::InstanceId::new(value).map_err(|error| error.to_string())
}

/// Parses a duration in milliseconds.
pub fn millis(value: &str) -> Result<std::time::Duration, String> {
    value
        .parse()
        .map(std::time::Duration::from_millis)
        .map_err(|error| format!("`{value}` is not a number of milliseconds: {error}"))
}
