//! Aegis: NATS microservices as annotated `impl` blocks.
//!
//! In short: annotate an inherent `impl` with
//! [`#[service]`](macro@service), mark methods with [`#[rpc]`](macro@rpc),
//! [`#[exclusive_rpc]`](macro@exclusive_rpc), [`#[subscribe]`](macro@subscribe) (events, see
//! [`events`]) or [`#[command]`](macro@command) (see [`commands`]), start it on a
//! [`Backend`], and call it through the generated `{Type}Client`. The README follows; its
//! Rust example runs as a doctest.
//!
#![doc = include_str!("../../README.md")]
#![warn(missing_docs)]

pub mod adapters;
mod backend;
pub mod catalog;
mod codec;
pub mod commands;
mod consumer;
pub mod dead_letters;
pub mod discovery;
pub mod domain;
pub mod election;
mod error;
pub mod events;
mod handler;
mod host;
mod leader;
#[cfg(feature = "otel")]
pub mod otel;
pub mod ports;
mod propagation;
pub mod registry;
mod rpc;
mod service;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::Backend;
#[doc(inline)]
pub use catalog::services as catalog;
pub use codec::Codec;
pub use commands::CommandContext;
pub use domain::names::InstanceId;
pub use domain::trace::TraceContext;
pub use error::{Error, Result};
pub use events::Event;
pub use handler::{HandlerOutput, IntoRpcError, Payload, Reply, RpcError};
pub use host::{ServiceBuilder, ServiceConfig, ServiceHandle, Shutdown, shutdown_requested};
pub use propagation::{current_trace, within_trace};
pub use registry::health::Health;
pub use rpc::client::{ClientCore, DEFAULT_TIMEOUT};
pub use rpc::context::RequestContext;
pub use rpc::deadline::{current_deadline, within_deadline};
pub use rpc::retry::RetryPolicy;
pub use service::{LifecycleState, MethodKind, MethodSpec, Service};

/// Code around every handler of a service ([`Layer`](middleware::Layer)s, added with
/// [`ServiceBuilder::layer`]) and around every request a client sends
/// ([`Interceptor`](middleware::Interceptor)s, added with a generated client's
/// `with_interceptor`; fixed headers with its `with_header`): credentials, tenancy, audit.
pub mod middleware {
    pub use crate::rpc::interceptor::{Interceptor, OutgoingCall};
    pub use crate::rpc::layer::{Layer, layer_fn};
}

#[cfg(feature = "macros")]
pub use aegis_macros::{command, exclusive_rpc, rpc, service, subscribe};

// Not public API: used by code that `#[aegis::service]` generates; may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::macro_support::*;
    pub use ::inventory;
    pub use ::serde;
}

mod macro_support;
