//! Aegis: NATS microservices as annotated `impl` blocks.
//!
//! See the crate README for the tour. In short: annotate an inherent `impl` with
//! [`#[service]`](macro@service), mark methods with [`#[rpc]`](macro@rpc),
//! [`#[exclusive_rpc]`](macro@exclusive_rpc), [`#[subscribe]`](macro@subscribe) (events, see
//! [`events`]) or [`#[command]`](macro@command) (see [`commands`]), start it on a
//! [`Backend`], and call it through the generated `{Type}Client`.
#![warn(missing_docs)]

pub mod adapters;
mod app;
mod backend;
mod client;
mod codec;
pub mod commands;
pub mod domain;
mod error;
pub mod events;
pub mod ports;
mod retry;
mod rpc;
#[cfg(feature = "testing")]
pub mod testing;

/// The service registry: where running instances announce themselves.
pub mod registry {
    pub use crate::app::registry::{
        KEY_PREFIX, KvServiceRegistry, REGISTRY_BUCKET, registry_key, service_of_key,
    };
    pub use crate::domain::instance::{InstanceStatus, ServiceInstance};
}

/// Where events and commands go when their handlers give up on them: the `DEAD_LETTERS`
/// stream, subject `deadletter.{service}.{original subject}`, the original payload, and
/// headers saying why.
pub mod dead_letters {
    pub use crate::app::subscriber::{DEAD_LETTER_STREAM, dead_letter_subject, headers};
}

/// Leader election for single-active groups (`#[exclusive_rpc]`).
pub mod election {
    pub use crate::app::election::{ElectionConfig, ElectionState, Leadership, election_bucket};
}

/// Finding instances and choosing one.
pub mod discovery {
    pub use crate::app::discovery::{
        BasicServiceDiscovery, CacheConfig, CacheStats, CachedServiceDiscovery, Instances,
        ServiceDiscovery, WatchConfig, WatchState, WatchableCacheConfig,
        WatchableCachedServiceDiscovery,
    };
    pub use crate::app::selection::{SelectionStrategy, Selector};
}

pub use app::health::Health;
pub use app::host::{ServiceBuilder, ServiceConfig, ServiceHandle};
pub use app::lifecycle::LifecycleState;
pub use app::service::{MethodKind, MethodSpec, Service};
pub use backend::Backend;
pub use client::DEFAULT_TIMEOUT;
pub use codec::Codec;
pub use commands::CommandContext;
pub use domain::names::InstanceId;
pub use error::{Error, Result};
pub use events::Event;
pub use retry::RetryPolicy;
pub use rpc::{HandlerOutput, IntoRpcError, Payload, Reply, RequestContext, RpcError};

#[cfg(feature = "macros")]
pub use aegis_macros::{command, exclusive_rpc, rpc, service, subscribe};

// Not public API: used by code that `#[aegis::service]` generates; may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::macro_support::*;
    pub use ::serde;
}

mod macro_support;
