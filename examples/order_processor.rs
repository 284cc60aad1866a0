//! `order-processor` on NATS: a single-active service.
//!
//! Contract (used from outside the project): reads `NATS_URL` (or `--server URL`); flags `--instance-id ID`,
//! `--group G` (default `default`), `--leader-ttl-ms N` (default 10000); serves service
//! `order-processor` with exclusive_rpc `process_order` (`{"order_id"}` →
//! `{"order_id", "status": "processed", "instance_id", "epoch"}`, epoch = fencing token) and
//! rpc `health_check` (→ `{"instance_id", "is_active"}`); prints a line whenever it becomes
//! active or standby; SIGTERM or SIGINT → graceful handover, exit 0.
//!
//! Also, for tests: `--audit-subject S` publishes the start and end of every order there,
//! and `--work-ms N` makes each order take N ms. `--metrics-addr HOST:PORT`: Prometheus
//! metrics at `http://HOST:PORT/metrics` (see `docs/metrics.md`).
//!
//! ```sh
//! cargo run --example order_processor -- --instance-id op-1 --leader-ttl-ms 2000
//! ```

use std::sync::Arc;
use std::time::Duration;

use aegis::election::ElectionState;
use aegis::{InstanceId, ServiceBuilder, ServiceConfig};
use aegis_examples::orders::OrderProcessor;
use aegis_examples::{Connection, MetricsExport};
use clap::Parser;

/// Serves `order-processor` on NATS: `process_order` runs on the elected leader of its group
/// only; prints each change of role; hands over gracefully on SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    connection: Connection,
    /// This instance's id [default: generated]
    #[arg(long, value_name = "ID", value_parser = aegis_examples::instance_id)]
    instance_id: Option<InstanceId>,
    /// The single-active group to join
    #[arg(long, value_name = "G", default_value = "default")]
    group: String,
    /// How long a leader's lease lasts without renewal, in ms
    #[arg(long, value_name = "N", value_parser = aegis_examples::millis, default_value = "10000")]
    leader_ttl_ms: Duration,
    /// For tests: publish the start and end of every order on this subject
    #[arg(long, value_name = "SUBJECT")]
    audit_subject: Option<String>,
    /// For tests: each order takes this long, in ms
    #[arg(long, value_name = "N", value_parser = aegis_examples::millis, default_value = "0")]
    work_ms: Duration,
    #[command(flatten)]
    metrics: MetricsExport,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    aegis_examples::init_tracing();
    let mut options = args.connection.options().name("order-processor");
    if let Some(metrics) = args.metrics.install()? {
        options = options.metrics(metrics);
    }
    let backend = options.connect().await?;
    let mut config = ServiceConfig::new()
        .group_id(args.group)
        .leader_ttl(args.leader_ttl_ms);
    if let Some(id) = args.instance_id {
        config = config.instance_id(id);
    }
    let service = Arc::new(OrderProcessor {
        audit: args.audit_subject.map(|subject| (backend.clone(), subject)),
        work: args.work_ms,
        ..OrderProcessor::default()
    });
    let handle = ServiceBuilder::from_arc(Arc::clone(&service))
        .config(config)
        .start(&backend)
        .await?;
    let _ = service.handle.set(handle.clone());

    if let Some(mut changes) = handle.leadership_changes() {
        let id = handle.instance_id().clone();
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let now = changes.borrow_and_update().clone();
                if now.state != ElectionState::Electing && last != Some(now.state) {
                    match now.state {
                        ElectionState::Active => {
                            println!("{id} ACTIVE epoch {}", now.token.unwrap_or_default())
                        }
                        _ => println!(
                            "{id} STANDBY leader {}",
                            now.leader.as_deref().unwrap_or("unknown")
                        ),
                    }
                    last = Some(now.state);
                }
                if changes.changed().await.is_err() {
                    break;
                }
            }
        });
    }

    let reason = handle.run_until_shutdown().await?;
    eprintln!("stopped: {reason}");
    Ok(())
}
