//! `report-builder` on NATS: runs `build` commands; every instance shares the work, and a
//! command whose worker dies runs on another.
//!
//! ```sh
//! cargo run --example command_worker -- --instance-id worker-1   # in two terminals
//! cargo run --example command_sender -- --sections 20
//! ```
//!
//! Reads `NATS_URL` (default `nats://127.0.0.1:4222`); `--ack-wait-ms N` (default 30 000)
//! is how long a dead worker's command waits before it runs elsewhere. Prints one line when
//! ready; stops gracefully on SIGINT or SIGTERM.

use std::time::Duration;

use aegis::adapters::nats::NatsOptions;
use aegis::commands::CommandConfig;
use aegis::{InstanceId, ServiceBuilder, ServiceConfig};
use aegis_examples::reports::ReportBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    aegis_examples::init_tracing();
    let mut config = ServiceConfig::new();
    let mut commands = CommandConfig::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--instance-id" => {
                let id = args.next().ok_or("--instance-id needs a value")?;
                config = config.instance_id(InstanceId::new(id)?);
            }
            "--ack-wait-ms" => {
                let millis: u64 = args.next().ok_or("--ack-wait-ms needs a value")?.parse()?;
                commands = commands.ack_wait(Duration::from_millis(millis));
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}` (expected --instance-id ID, --ack-wait-ms N)"
                )
                .into());
            }
        }
    }
    let backend = NatsOptions::from_env()
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
