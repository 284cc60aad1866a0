//! The in-memory backend: same semantics as NATS, inside one process.
