//! `notifier` on NATS: confirms each order once across all its instances (compete) and
//! audits every order event in every instance (broadcast).
//!
//! ```sh
//! cargo run --example event_subscriber -- --instance-id notifier-1   # in two terminals
//! cargo run --example event_publisher -- --count 10
//! ```
//!
//! A free order (`total_cents` 0) is refused as a bad request and goes to the dead letters;
//! a notifier run with `--accept-free-orders` confirms it when it is replayed
//! (`aegis dlq replay`).
//!
//! Reads `NATS_URL` (default `nats://127.0.0.1:4222`) or `--server URL`; prints one line when ready; stops
//! gracefully on SIGINT or SIGTERM.

use aegis::{InstanceId, ServiceBuilder, ServiceConfig};
use aegis_examples::Connection;
use aegis_examples::shop::Notifier;
use clap::Parser;

/// Serves `notifier` on NATS: order events, until SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    connection: Connection,
    /// This instance's id [default: generated]
    #[arg(long, value_name = "ID", value_parser = aegis_examples::instance_id)]
    instance_id: Option<InstanceId>,
    /// Confirm free orders (`total_cents` 0) instead of dead-lettering them
    #[arg(long)]
    accept_free_orders: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    aegis_examples::init_tracing();
    let mut config = ServiceConfig::new();
    if let Some(id) = args.instance_id {
        config = config.instance_id(id);
    }
    let backend = args.connection.options().name("notifier").connect().await?;
    let notifier = Notifier {
        accept_free: args.accept_free_orders,
        ..Notifier::default()
    };
    let service = ServiceBuilder::new(notifier)
        .config(config)
        .start(&backend)
        .await?;
    println!("notifier ready (instance {})", service.instance_id());
    let reason = service.run_until_shutdown().await?;
    eprintln!("stopped: {reason}");
    Ok(())
}
