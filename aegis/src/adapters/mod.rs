//! Adapters implementing the ports: the in-memory backend (always built).

pub mod memory;
