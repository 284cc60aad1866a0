//! `echo-service` 1.0.0 on NATS.
//!
//! Contract (used from outside the project): reads `NATS_URL` (default
//! `nats://127.0.0.1:4222`); `--instance-id ID` optional; rpc `echo` with params
//! `{"message": string}` returns `{"echo": same string, "instance_id": ...}`; rpc `status`
//! returns `{"instance_id": ..., "status": "healthy"}`; prints one line when ready; stops
//! gracefully on SIGINT or SIGTERM and exits 0. Optional: `--registry-ttl-ms N` and
//! `--heartbeat-interval-ms N` (defaults 30 000 and 10 000).
//!
//! ```sh
//! cargo run --example echo_service -- --instance-id echo-1
//! ```

use aegis::adapters::nats::NatsOptions;
use aegis::{InstanceId, ServiceBuilder, ServiceConfig};
use aegis_examples::echo::EchoService;

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
            "--registry-ttl-ms" => config = config.registry_ttl(millis(args.next())?),
            "--heartbeat-interval-ms" => config = config.heartbeat_interval(millis(args.next())?),
            other => {
                return Err(format!(
                    "unknown argument `{other}` (expected --instance-id ID, --registry-ttl-ms N, \
                     --heartbeat-interval-ms N)"
                )
                .into());
            }
        }
    }

    let options = NatsOptions::from_env().name("echo-service");
    let backend = options.connect().await?;
    let service = ServiceBuilder::new(EchoService)
        .config(config)
        .start(&backend)
        .await?;
    println!(
        "echo-service {} ready (instance {})",
        service.version(),
        service.instance_id()
    );

    let reason = service.run_until_shutdown().await?;
    eprintln!("stopped: {reason}");
    Ok(())
}

fn millis(value: Option<String>) -> Result<std::time::Duration, Box<dyn std::error::Error>> {
    let value = value.ok_or("a millisecond value is missing")?;
    Ok(std::time::Duration::from_millis(value.parse()?))
}
