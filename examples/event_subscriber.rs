//! `notifier` on NATS: confirms each order once across all its instances (compete) and
//! audits every order event in every instance (broadcast).
//!
//! ```sh
//! cargo run --example event_subscriber -- --instance-id notifier-1   # in two terminals
//! cargo run --example event_publisher -- --count 10
//! ```
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
    let service = ServiceBuilder::new(Notifier::default())
        .config(config)
        .start(&backend)
        .await?;
    println!("notifier ready (instance {})", service.instance_id());
    let reason = service.run_until_shutdown().await?;
    eprintln!("stopped: {reason}");
    Ok(())
}
