//! Publishes `orders.placed` events into the `EVENTS` stream, all in flight at once.
//!
//! ```sh
//! cargo run --example event_publisher -- --count 10
//! ```
//!
//! Reads `NATS_URL` (default `nats://127.0.0.1:4222`) or `--server URL`.

use aegis::events::EventPublisher;
use aegis_examples::Connection;
use aegis_examples::shop::{OrderPlaced, order_placed};
use clap::Parser;

/// Publishes COUNT `orders.placed` events into the `EVENTS` stream, all in flight at once.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    connection: Connection,
    /// How many events
    #[arg(long, value_name = "N", default_value = "10")]
    count: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    aegis_examples::init_tracing();
    let count = args.count;
    let backend = args
        .connection
        .options()
        .name("order-desk")
        .connect()
        .await?;
    let publisher = EventPublisher::new(&backend)?.with_source("order-desk");
    let orders: Vec<OrderPlaced> = (1..=count)
        .map(|order_id| OrderPlaced {
            order_id,
            total_cents: 1_000 + order_id,
        })
        .collect();
    let acks = publisher.publish_all(&order_placed(), &orders).await?;
    let first = acks.first().map_or(0, |a| a.sequence);
    let last = acks.last().map_or(0, |a| a.sequence);
    println!(
        "published {} events (EVENTS sequences {first}..={last})",
        acks.len()
    );
    Ok(())
}
