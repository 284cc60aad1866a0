//! Plain value types, no I/O: names, subjects, envelopes.

pub mod envelope;
pub mod headers;
pub mod instance;
pub mod lease;
pub mod names;
pub mod subject;
pub mod trace;
pub(crate) mod wire;
