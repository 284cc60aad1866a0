//! Reading and writing registry entries in KV.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::RwLock;

use crate::backend::Backend;
use crate::domain::instance::ServiceInstance;
use crate::domain::subject::{keys_under, registry_service_prefix, validate_subject};
use crate::ports::{BucketConfig, KvBuckets, KvStore, KvWatch};
use crate::{Error, Result};

use crate::domain::subject::{
    REGISTRY_BUCKET, REGISTRY_KEY_PREFIX as KEY_PREFIX, registry_key, service_of_key,
};

/// Reads and writes registry entries. Cheap to clone.
///
/// The bucket is opened on first use and created when missing, with `max_age` as garbage
/// collection only: liveness is always judged from `lastHeartbeat`. When a write fails
/// (the bucket was deleted, say), the bucket is opened (re-created) again and the write
/// retried once.
#[derive(Clone)]
pub struct KvServiceRegistry {
    buckets: Arc<dyn KvBuckets>,
    config: BucketConfig,
    store: Arc<RwLock<Option<Arc<dyn KvStore>>>>,
}

impl fmt::Debug for KvServiceRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvServiceRegistry")
            .field("bucket", &self.config)
            .finish_non_exhaustive()
    }
}

impl KvServiceRegistry {
    /// The registry on `backend`'s KV, bucket `service_registry` (history 10, as the Python
    /// SDK creates it), garbage-collecting entries after 90 s without a write (3 × the
    /// default registry TTL).
    pub fn new(backend: &Backend) -> Self {
        let mut config = BucketConfig::new(REGISTRY_BUCKET).max_age(Duration::from_secs(90));
        // With history 1 every heartbeat deletes the previous revision, and a listing that
        // runs meanwhile can miss the key; the Python SDK creates the bucket with 10.
        config.history = 10;
        Self::with_bucket(Arc::clone(backend.kv()), config)
    }

    /// The registry in the bucket `config` (created with it when missing).
    pub fn with_bucket(buckets: Arc<dyn KvBuckets>, config: BucketConfig) -> Self {
        KvServiceRegistry {
            buckets,
            config,
            store: Arc::default(),
        }
    }

    async fn store(&self) -> Result<Arc<dyn KvStore>> {
        if let Some(store) = self.store.read().await.as_ref() {
            return Ok(Arc::clone(store));
        }
        let mut slot = self.store.write().await;
        if let Some(store) = slot.as_ref() {
            return Ok(Arc::clone(store));
        }
        let store = self.buckets.open_bucket(self.config.clone()).await?;
        *slot = Some(Arc::clone(&store));
        Ok(store)
    }

    async fn reopen(&self) -> Result<Arc<dyn KvStore>> {
        self.store.write().await.take();
        self.store().await
    }

    /// Writes `instance` (register, heartbeat and status change alike: a full put, which
    /// also re-creates an entry that vanished).
    pub async fn put(&self, instance: &ServiceInstance) -> Result<u64> {
        let key = registry_key(&instance.service_name, &instance.instance_id);
        let value =
            Bytes::from(serde_json::to_vec(instance).map_err(|e| Error::Transport(e.to_string()))?);
        match self.store().await?.put(&key, value.clone()).await {
            Ok(revision) => Ok(revision),
            Err(Error::Invalid { what, message }) => Err(Error::Invalid { what, message }),
            Err(first) => {
                tracing::debug!(%first, "registry write failed; reopening the bucket");
                self.reopen().await?.put(&key, value).await
            }
        }
    }

    /// Removes the entry of `instance_id`.
    pub async fn deregister(&self, service: &str, instance_id: &str) -> Result<()> {
        self.store()
            .await?
            .delete(&registry_key(service, instance_id), None)
            .await
    }

    /// Every readable entry of `service` (dead or alive; see
    /// [`ServiceInstance::is_healthy`]), sorted by instance id.
    pub async fn list_instances(&self, service: &str) -> Result<Vec<ServiceInstance>> {
        let pattern = format!("{}>", registry_service_prefix(service));
        // No key holds wildcards or whitespace: such a name has no entries (and would make
        // the pattern match other services', or not parse).
        if service.contains(['*', '>']) || validate_subject(&pattern, true).is_err() {
            return Ok(Vec::new());
        }
        self.list(&pattern, |_| true).await
    }

    /// Every readable entry of every service, sorted by service and instance id.
    pub async fn list_all(&self) -> Result<Vec<ServiceInstance>> {
        self.list(&keys_under(KEY_PREFIX), |key| service_of_key(key).is_some())
            .await
    }

    /// The entries of the keys matching `pattern` that are `wanted`, read in one call.
    async fn list(
        &self,
        pattern: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<ServiceInstance>> {
        let entries = self.store().await?.entries(pattern).await?;
        let mut instances = Vec::new();
        for entry in entries.iter().filter(|e| wanted(&e.key)) {
            match serde_json::from_slice::<ServiceInstance>(&entry.value) {
                Ok(instance) => instances.push(instance),
                Err(error) => {
                    tracing::debug!(key = entry.key, %error, "skipping unreadable registry entry");
                }
            }
        }
        instances.sort_by(|a, b| {
            (a.service_name.as_str(), a.instance_id.as_str())
                .cmp(&(b.service_name.as_str(), b.instance_id.as_str()))
        });
        Ok(instances)
    }

    /// Every later change of any registry entry.
    pub async fn watch(&self) -> Result<KvWatch> {
        self.store().await?.watch(&keys_under(KEY_PREFIX)).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryKvBuckets;
    use crate::domain::instance::InstanceStatus;

    fn instance(service: &str, id: &str) -> ServiceInstance {
        ServiceInstance {
            service_name: service.to_owned(),
            instance_id: id.to_owned(),
            version: "1.0.0".to_owned(),
            status: InstanceStatus::Active,
            last_heartbeat: "2025-01-01T00:00:00Z".to_owned(),
            sticky_active_group: None,
            metadata: std::collections::BTreeMap::new(),
        }
    }

    fn ids(instances: &[ServiceInstance]) -> Vec<(&str, &str)> {
        instances
            .iter()
            .map(|i| (i.service_name.as_str(), i.instance_id.as_str()))
            .collect()
    }

    #[tokio::test]
    async fn listings_hold_the_services_own_readable_entries_sorted() {
        let buckets = Arc::new(MemoryKvBuckets::default());
        let config = BucketConfig::new(REGISTRY_BUCKET);
        let registry = KvServiceRegistry::with_bucket(buckets.clone(), config.clone());
        for (service, id) in [("echo", "e-2"), ("echo", "e-1"), ("echo-two", "t-1")] {
            registry.put(&instance(service, id)).await.unwrap();
        }
        registry.put(&instance("echo", "gone")).await.unwrap();
        registry.deregister("echo", "gone").await.unwrap();
        let kv = buckets.bucket(config).unwrap();
        kv.put("service-instances.echo.junk", Bytes::from_static(b"{"))
            .await
            .unwrap();
        kv.put("service-instances.lonely", Bytes::from_static(b"{}"))
            .await
            .unwrap();

        let echo = registry.list_instances("echo").await.unwrap();
        assert_eq!(ids(&echo), [("echo", "e-1"), ("echo", "e-2")]);
        let all = registry.list_all().await.unwrap();
        assert_eq!(
            ids(&all),
            [("echo", "e-1"), ("echo", "e-2"), ("echo-two", "t-1")]
        );
        for not_a_name in ["*", ">", "", "a b", "echo.*"] {
            let listed = registry.list_instances(not_a_name).await.unwrap();
            assert!(listed.is_empty(), "{not_a_name:?}: {listed:?}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(
            registry_key("echo", "echo-1"),
            "service-instances.echo.echo-1"
        );
        assert_eq!(
            service_of_key("service-instances.echo.echo-1"),
            Some("echo")
        );
        assert_eq!(service_of_key("service-instances.echo"), None);
        assert_eq!(service_of_key("other.echo.echo-1"), None);
    }
}
