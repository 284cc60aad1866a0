//! `order-processor` on NATS: a single-active service.
//!
//! Contract (used from outside the project): reads `NATS_URL`; flags `--instance-id ID`,
//! `--group G` (default `default`), `--leader-ttl-ms N` (default 10000); serves service
//! `order-processor` with exclusive_rpc `process_order` (`{"order_id"}` →
//! `{"order_id", "status": "processed", "instance_id", "epoch"}`, epoch = fencing token) and
//! rpc `health_check` (→ `{"instance_id", "is_active"}`); prints a line whenever it becomes
//! active or standby; SIGTERM or SIGINT → graceful handover, exit 0.
//!
//! Also, for tests: `--audit-subject S` publishes the start and end of every order there,
//! and `--work-ms N` makes each order take N ms.
//!
//! ```sh
//! cargo run --example order_processor -- --instance-id op-1 --leader-ttl-ms 2000
//! ```

use std::sync::Arc;
use std::time::Duration;

use aegis::adapters::nats::NatsOptions;
use aegis::election::ElectionState;
use aegis::{InstanceId, ServiceBuilder, ServiceConfig};
use aegis_examples::orders::OrderProcessor;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    aegis_examples::init_tracing();
    let mut instance_id = None;
    let mut group = String::from("default");
    let mut ttl = Duration::from_millis(10_000);
    let mut audit = None;
    let mut work = Duration::ZERO;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--instance-id" => instance_id = Some(InstanceId::new(value()?)?),
            "--group" => group = value()?,
            "--leader-ttl-ms" => ttl = Duration::from_millis(value()?.parse()?),
            "--audit-subject" => audit = Some(value()?),
            "--work-ms" => work = Duration::from_millis(value()?.parse()?),
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }

    let backend = NatsOptions::from_env()
        .name("order-processor")
        .connect()
        .await?;
    let mut config = ServiceConfig::new().group_id(group).leader_ttl(ttl);
    if let Some(id) = instance_id {
        config = config.instance_id(id);
    }
    let service = Arc::new(OrderProcessor {
        audit: audit.map(|subject| (backend.clone(), subject)),
        work,
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
