//! `echo-service` 1.0.0 on NATS.
//!
//! Contract (used from outside the project): reads `NATS_URL` (default
//! `nats://127.0.0.1:4222`; `--server URL` overrides it); `--instance-id ID` optional; rpc
//! `echo` with params `{"message": string}` returns `{"echo": same string, "instance_id":
//! ...}`; rpc `status` returns `{"instance_id": ..., "status": "healthy"}`; prints one line
//! when ready; stops gracefully on SIGINT or SIGTERM and exits 0. Optional:
//! `--registry-ttl-ms N` and `--heartbeat-interval-ms N` (defaults 30 000 and 10 000);
//! `--token T` (or `ECHO_TOKEN`): every call must carry `authorization: Bearer T`, else it
//! is refused with 401 (a server layer, see `aegis::middleware`); `--metrics-addr HOST:PORT`:
//! Prometheus metrics at `http://HOST:PORT/metrics` (see `docs/metrics.md`).
//!
//! ```sh
//! cargo run --example echo_service -- --instance-id echo-1
//! ```

use std::time::Duration;

use aegis::middleware::layer_fn;
use aegis::{InstanceId, RequestContext, RpcError, ServiceBuilder, ServiceConfig};
use aegis_examples::echo::EchoService;
use aegis_examples::{Connection, MetricsExport};
use clap::Parser;

/// Serves `echo-service` (rpc `echo` and `status`) on NATS until SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    connection: Connection,
    /// This instance's id [default: generated]
    #[arg(long, value_name = "ID", value_parser = aegis_examples::instance_id)]
    instance_id: Option<InstanceId>,
    /// How long the registry keeps this instance without a heartbeat, in ms [default: 30000]
    #[arg(long, value_name = "N", value_parser = aegis_examples::millis)]
    registry_ttl_ms: Option<Duration>,
    /// How often the instance renews its registry entry, in ms [default: 10000]
    #[arg(long, value_name = "N", value_parser = aegis_examples::millis)]
    heartbeat_interval_ms: Option<Duration>,
    /// Refuse (401) every call that does not carry `authorization: Bearer TOKEN`
    #[arg(long, value_name = "TOKEN", env = "ECHO_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    metrics: MetricsExport,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    aegis_examples::init_tracing();
    let mut config = ServiceConfig::new();
    if let Some(id) = args.instance_id {
        config = config.instance_id(id);
    }
    if let Some(ttl) = args.registry_ttl_ms {
        config = config.registry_ttl(ttl);
    }
    if let Some(interval) = args.heartbeat_interval_ms {
        config = config.heartbeat_interval(interval);
    }

    let mut options = args.connection.options().name("echo-service");
    if let Some(metrics) = args.metrics.install()? {
        options = options.metrics(metrics);
    }
    let backend = options.connect().await?;
    let mut builder = ServiceBuilder::new(EchoService).config(config);
    if let Some(token) = args.token {
        let expected = format!("Bearer {token}");
        builder = builder.layer(layer_fn(move |request: &RequestContext| {
            match request.headers().get("authorization") {
                Some(given) if given == expected => Ok(()),
                _ => Err(RpcError::unauthorized(
                    "this echo-service wants `authorization: Bearer <token>`",
                )),
            }
        }));
    }
    let service = builder.start(&backend).await?;
    println!(
        "echo-service {} ready (instance {})",
        service.version(),
        service.instance_id()
    );

    let reason = service.run_until_shutdown().await?;
    eprintln!("stopped: {reason}");
    Ok(())
}
