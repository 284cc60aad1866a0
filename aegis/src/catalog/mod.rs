//! The service catalogue: every `#[service]` linked into the binary, with its handlers'
//! kinds, subjects, payload and result types and doc comments ([`services`], also
//! `aegis::catalog()`), and as an AsyncAPI 3.0.0 document ([`asyncapi`]).
//!
//! With the `schemars` feature, the payload and result types that implement
//! `schemars::JsonSchema` come with their JSON Schemas. A running service publishes its
//! descriptor in `$SRV.INFO` metadata (`docs/wire-protocol.md`).

mod asyncapi;
mod descriptor;
pub(crate) mod schema;

pub use asyncapi::{asyncapi, asyncapi_of};
#[doc(hidden)]
pub use descriptor::Registered;
pub use descriptor::{
    CommandDescriptor, MethodDescriptor, ServiceDescriptor, SubscriptionDescriptor, TypeDescriptor,
    services,
};
