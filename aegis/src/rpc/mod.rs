//! RPC: one request through its handler, the receive loop, the `$SRV` control plane, the
//! client engine and its retry policy.

pub(crate) mod call;
pub(crate) mod client;
pub(crate) mod context;
pub(crate) mod control;
pub(crate) mod deadline;
pub(crate) mod interceptor;
pub(crate) mod layer;
pub(crate) mod metrics;
pub(crate) mod retry;
pub(crate) mod server;
