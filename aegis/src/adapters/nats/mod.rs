//! The NATS backend (async-nats): core request/reply, JetStream KV and streams.
//!
//! ```no_run
//! # async fn run() -> aegis::Result<()> {
//! // NATS_URL, or nats://127.0.0.1:4222
//! let backend = aegis::adapters::nats::NatsOptions::from_env().connect().await?;
//! # Ok(()) }
//! ```

mod bus;
mod connect;
mod context;
mod denials;
mod direct_get;
mod error;
mod kv;
mod placement;
mod stats;
mod stored;
mod streams;

pub use bus::NatsBus;
pub use connect::{DEFAULT_URL, NatsOptions};
pub use kv::NatsKvBuckets;
pub use placement::Storage;
pub use stats::ConnectionStats;
pub use streams::NatsStreams;
