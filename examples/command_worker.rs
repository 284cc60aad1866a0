//! `report-builder` on NATS: runs `build` commands; every instance shares the work, and a
//! command whose worker dies runs on another.
//!
//! ```sh
//! cargo run --example command_worker -- --instance-id worker-1   # in two terminals
//! cargo run --example command_sender -- --sections 20
//! ```
//!
//! Reads `NATS_URL` (default `nats://127.0.0.1:4222`) or `--server URL`; `--ack-wait-ms N`
//! (default 30 000) is how long a dead worker's command waits before it runs elsewhere.
//! Prints one line when ready; stops gracefully on SIGINT or SIGTERM.

use std::time::Duration;

use aegis::commands::CommandConfig;
use aegis::{InstanceId, ServiceBuilder, ServiceConfig};
use aegis_examples::Connection;
use aegis_examples::reports::ReportBuilder;
use clap::Parser;

/// Serves `report-builder` on NATS: runs `build` commands until SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    connection: Connection,
    /// This instance's id [default: generated]
    #[arg(long, value_name = "ID", value_parser = aegis_examples::instance_id)]
    instance_id: Option<InstanceId>,
    /// How long a dead worker's command waits before it runs elsewhere, in ms
    #[arg(long, value_name = "N", value_parser = aegis_examples::millis, default_value = "30000")]
    ack_wait_ms: Duration,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    aegis_examples::init_tracing();
    let mut config = ServiceConfig::new();
    if let Some(id) = args.instance_id {
        config = config.instance_id(id);
    }
    let commands = CommandConfig::new().ack_wait(args.ack_wait_ms);

    let backend = args
        .connection
        .options()
        .name("report-builder")
        .connect()
        .await?;
    let service = ServiceBuilder::new(ReportBuilder)
        .config(config.commands(commands))
        .start(&backend)
        .await?;
    println!("report-builder ready (instance {})", service.instance_id());
    let reason = service.run_until_shutdown().await?;
    eprintln!("stopped: {reason}");
    Ok(())
}
