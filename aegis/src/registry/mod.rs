//! The service registry in KV: bucket `service_registry`, value the Python SDK's 7-key JSON,
//! each entry under two keys: `service-instances.{service}.{instance}` and the Python SDK's
//! `service-instances__{service}__{instance}`. Entries aegis writes carry
//! [`RUST_MARKER_KEY`] in their metadata.

mod forms;
pub(crate) mod health;
mod mixed_group;
mod store;

pub use crate::domain::instance::{InstanceStatus, RUST_MARKER, RUST_MARKER_KEY, ServiceInstance};
pub use crate::domain::subject::{
    REGISTRY_BUCKET, REGISTRY_KEY_PREFIX as KEY_PREFIX, python_key_services, python_registry_key,
    registry_key, service_of_key,
};
pub use store::KvServiceRegistry;
