//! Publishes `orders.placed` events into the `EVENTS` stream, all in flight at once.
//!
//! ```sh
//! cargo run --example event_publisher -- --count 10
//! ```
//!
//! Reads `NATS_URL` (default `nats://127.0.0.1:4222`).

use aegis::adapters::nats::NatsOptions;
use aegis::events::EventPublisher;
use aegis_examples::shop::{OrderPlaced, order_placed};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    aegis_examples::init_tracing();
    let mut count = 10u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--count" => count = args.next().ok_or("--count needs a value")?.parse()?,
            other => return Err(format!("unknown argument `{other}` (expected --count N)").into()),
        }
    }
    let backend = NatsOptions::from_env().name("order-desk").connect().await?;
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
