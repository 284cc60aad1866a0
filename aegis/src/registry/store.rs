//! Reading and writing registry entries in KV.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::RwLock;

use crate::backend::Backend;
use crate::domain::instance::ServiceInstance;
use crate::domain::subject::{keys_under, registry_service_prefix};
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
        let prefix = registry_service_prefix(service);
        self.list(|key| key.starts_with(&prefix)).await
    }

    /// Every readable entry of every service, sorted by service and instance id.
    pub async fn list_all(&self) -> Result<Vec<ServiceInstance>> {
        self.list(|key| service_of_key(key).is_some()).await
    }

    async fn list(&self, wanted: impl Fn(&str) -> bool) -> Result<Vec<ServiceInstance>> {
        let store = self.store().await?;
        let mut instances = Vec::new();
        for key in store.keys().await?.into_iter().filter(|k| wanted(k)) {
            let Some(entry) = store.get(&key).await? else {
                continue; // deleted between listing and reading
            };
            match serde_json::from_slice::<ServiceInstance>(&entry.value) {
                Ok(instance) => instances.push(instance),
                Err(error) => tracing::debug!(key, %error, "skipping unreadable registry entry"),
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
mod tests {
    use super::*;

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
