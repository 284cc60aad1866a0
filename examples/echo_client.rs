//! Calls `echo-service` (see `echo_service.rs`) through its generated client.
//!
//! ```sh
//! cargo run --example echo_client -- "hello there"
//! cargo run --example echo_client -- --token s3cret "hello there"   # if the service wants one
//! ```

use aegis_examples::Connection;
use aegis_examples::echo::{EchoRequest, EchoServiceClient};
use clap::Parser;

/// Asks `echo-service` for its status, then to echo MESSAGE.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    connection: Connection,
    /// Send `authorization: Bearer TOKEN` with every call
    #[arg(long, value_name = "TOKEN", env = "ECHO_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// What to echo
    #[arg(default_value = "hello")]
    message: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    aegis_examples::init_tracing();
    let backend = args
        .connection
        .options()
        .name("echo-client")
        .retry_initial_connect(false)
        .connect()
        .await?;
    let mut client = EchoServiceClient::new(&backend);
    if let Some(token) = &args.token {
        client = client.with_header("authorization", format!("Bearer {token}"));
    }
    let status = client.status().await?;
    println!("status: {} is {}", status.instance_id, status.status);
    let reply = client
        .echo(EchoRequest {
            message: args.message,
        })
        .await?;
    println!("echo: {:?} (from {})", reply.echo, reply.instance_id);
    Ok(())
}
