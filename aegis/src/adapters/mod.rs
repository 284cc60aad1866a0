//! Adapters implementing the ports: the in-memory backend (always built) and NATS
//! (feature `nats`, on by default).

pub mod memory;
#[cfg(feature = "nats")]
pub mod nats;
