//! Behaviour tests for aegis live in `tests/`; this library holds their harness.

pub mod commands;
pub mod events;
pub mod nats_server;
pub mod process;
