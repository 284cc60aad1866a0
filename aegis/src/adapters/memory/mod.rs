//! The in-memory backend: same semantics as NATS, inside one process.

mod bus;
mod clock;
mod kv;
mod metrics;
mod streams;

pub use bus::MemoryBus;
pub use clock::ManualClock;
pub use kv::{MemoryKv, MemoryKvBuckets};
pub use metrics::{InMemoryMetrics, LabelSet, Summary};
pub use streams::MemoryStreams;

use std::sync::Arc;

use crate::backend::Backend;
use crate::ports::{Clock, SystemClock};

impl Backend {
    /// A fresh in-memory backend (its own bus and buckets, the system clock).
    pub fn in_memory() -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let streams = Arc::new(MemoryStreams::new(Arc::clone(&clock)));
        let kv = Arc::new(MemoryKvBuckets::new(Arc::clone(&clock)));
        Backend::from_parts(Arc::new(MemoryBus::new()), kv, clock).with_streams(streams)
    }
}
