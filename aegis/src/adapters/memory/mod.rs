//! The in-memory backend: same semantics as NATS, inside one process.

mod bus;
mod clock;
mod kv;
mod metrics;
mod streams;

pub use bus::MemoryBus;
pub use clock::ManualClock;
pub use kv::{MemoryKv, MemoryKvBuckets};
pub use metrics::{InMemoryMetrics, Summary};
pub use streams::MemoryStreams;
