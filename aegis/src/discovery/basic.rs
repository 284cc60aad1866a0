//! Finding the instances of a service: the port every discovery implements, and the one
//! that asks the registry every time.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Result;
use crate::backend::Backend;
use crate::domain::instance::ServiceInstance;
use crate::ports::{BoxFuture, Clock};
use crate::registry::KvServiceRegistry;

/// Instances of a service, sorted by instance id; cheap to clone.
pub type Instances = Arc<[ServiceInstance]>;

/// Finds the instances of a service.
pub trait ServiceDiscovery: Send + Sync + 'static {
    /// The instances of `service`; with `only_healthy`, only those alive (heartbeat within
    /// the registry TTL) and not UNHEALTHY.
    fn discover<'a>(
        &'a self,
        service: &'a str,
        only_healthy: bool,
    ) -> BoxFuture<'a, Result<Instances>>;

    /// Forgets anything cached about `service` (after a call to one of its instances failed,
    /// say).
    fn invalidate(&self, _service: &str) {}
}

/// Queries the registry on every call (the Python AegisSDK's `BasicServiceDiscovery`).
#[derive(Clone)]
pub struct BasicServiceDiscovery {
    registry: KvServiceRegistry,
    clock: Arc<dyn Clock>,
    registry_ttl: Duration,
}

impl fmt::Debug for BasicServiceDiscovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicServiceDiscovery")
            .field("registry_ttl", &self.registry_ttl)
            .finish_non_exhaustive()
    }
}

impl BasicServiceDiscovery {
    /// Discovery on `backend`'s registry; an instance is alive while its last heartbeat is at
    /// most `registry_ttl` old (use the services' `registry_ttl`).
    pub fn new(backend: &Backend, registry_ttl: Duration) -> Self {
        Self::with_registry(
            KvServiceRegistry::new(backend),
            Arc::clone(backend.clock()),
            registry_ttl,
        )
    }

    /// Discovery on an explicit registry.
    pub fn with_registry(
        registry: KvServiceRegistry,
        clock: Arc<dyn Clock>,
        registry_ttl: Duration,
    ) -> Self {
        BasicServiceDiscovery {
            registry,
            clock,
            registry_ttl,
        }
    }

    /// The registry it reads.
    pub fn registry(&self) -> &KvServiceRegistry {
        &self.registry
    }
}

impl ServiceDiscovery for BasicServiceDiscovery {
    fn discover<'a>(
        &'a self,
        service: &'a str,
        only_healthy: bool,
    ) -> BoxFuture<'a, Result<Instances>> {
        Box::pin(async move {
            let mut instances = self.registry.list_instances(service).await?;
            if only_healthy {
                let now = self.clock.system_time();
                instances.retain(|i| i.is_healthy(now, self.registry_ttl));
            }
            Ok(instances.into())
        })
    }
}

impl<T: ServiceDiscovery + ?Sized> ServiceDiscovery for Arc<T> {
    fn discover<'a>(
        &'a self,
        service: &'a str,
        only_healthy: bool,
    ) -> BoxFuture<'a, Result<Instances>> {
        (**self).discover(service, only_healthy)
    }

    fn invalidate(&self, service: &str) {
        (**self).invalidate(service);
    }
}
