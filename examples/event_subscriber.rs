//! `notifier` on NATS: confirms each order once across all its instances (compete) and
//! audits every order event in every instance (broadcast).
//!
//! ```sh
//! cargo run --example event_subscriber -- --instance-id notifier-1   # in two terminals
//! cargo run --example event_publisher -- --count 10
//! ```
//!
//! Reads `NATS_URL` (default `nats://127.0.0.1:4222`); prints one line when ready; stops
//! gracefully on SIGINT or SIGTERM.

use aegis::adapters::nats::NatsOptions;
use aegis::{InstanceId, ServiceBuilder, ServiceConfig};
use aegis_examples::shop::Notifier;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    aegis_examples::init_tracing();
    let mut config = ServiceConfig::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--instance-id" => {
                let id = args.next().ok_or("--instance-id needs a value")?;
                config = config.instance_id(InstanceId::new(id)?);
            }
            other => {
                return Err(
                    format!("unknown argument `{other}` (expected --instance-id ID)").into(),
                );
            }
        }
    }
    let backend = NatsOptions::from_env().name("notifier").connect().await?;
    let service = ServiceBuilder::new(Notifier::default())
        .config(config)
        .start(&backend)
        .await?;
    println!("notifier ready (instance {})", service.instance_id());
    let reason = service.run_until_shutdown().await?;
    eprintln!("stopped: {reason}");
    Ok(())
}
