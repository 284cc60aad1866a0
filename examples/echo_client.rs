//! Calls `echo-service` (see `echo_service.rs`) through its generated client.
//!
//! ```sh
//! cargo run --example echo_client -- "hello there"
//! ```

use aegis::adapters::nats::NatsOptions;
use aegis_examples::echo::{EchoRequest, EchoServiceClient};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    aegis_examples::init_tracing();
    let message = std::env::args()
        .nth(1)
        .unwrap_or_else(|| String::from("hello"));
    let backend = NatsOptions::from_env()
        .name("echo-client")
        .retry_initial_connect(false)
        .connect()
        .await?;
    let client = EchoServiceClient::new(&backend);
    let status = client.status().await?;
    println!("status: {} is {}", status.instance_id, status.status);
    let reply = client.echo(EchoRequest { message }).await?;
    println!("echo: {:?} (from {})", reply.echo, reply.instance_id);
    Ok(())
}
