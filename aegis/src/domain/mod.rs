//! Plain value types, no I/O: names, subjects, envelopes.

pub mod envelope;
pub mod headers;
pub mod instance;
pub mod names;
pub mod subject;
pub(crate) mod wire;
