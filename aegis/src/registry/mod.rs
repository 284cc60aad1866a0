//! The service registry in KV: bucket `service_registry`, key
//! `service-instances.{service}.{instance}`, value the Python SDK's 7-key JSON.

pub(crate) mod health;
mod store;

pub use crate::domain::instance::{InstanceStatus, ServiceInstance};
pub use crate::domain::subject::{
    REGISTRY_BUCKET, REGISTRY_KEY_PREFIX as KEY_PREFIX, registry_key, service_of_key,
};
pub use store::KvServiceRegistry;
