//! Adapters implementing the ports: the in-memory backend (always built) and NATS
//! (feature `nats`, on by default).

pub mod memory;
mod metrics_rs;
#[cfg(feature = "nats")]
pub mod nats;

pub use metrics_rs::MetricsRs;
