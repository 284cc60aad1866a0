//! Reading and writing registry entries in KV.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::RwLock;

use crate::backend::Backend;
use crate::domain::instance::ServiceInstance;
use crate::domain::subject::{
    python_registry_key, python_registry_service_prefix, registry_service_prefix, validate_subject,
};
use crate::ports::{BucketConfig, KvBuckets, KvStore, KvWatch};
use crate::registry::forms::{self, KeyForm};
use crate::{Error, Result};

use crate::domain::subject::{REGISTRY_BUCKET, registry_key};

/// Reads and writes registry entries. Cheap to clone.
///
/// The bucket is opened on first use and created when missing, with `max_age` as garbage
/// collection only: liveness is always judged from `lastHeartbeat`. When a write fails
/// (the bucket was deleted, say), the bucket is opened (re-created) again and the write
/// retried once.
///
/// Each entry is kept under two keys: `service-instances.{service}.{instance}`, and the
/// Python SDK's `service-instances__{service}__{instance}`, so that Python's discovery finds
/// aegis instances (see [`write_python_keys`](Self::write_python_keys)). Listings read both
/// forms, so aegis finds Python instances too.
#[derive(Clone)]
pub struct KvServiceRegistry {
    buckets: Arc<dyn KvBuckets>,
    config: BucketConfig,
    store: Arc<RwLock<Option<Arc<dyn KvStore>>>>,
    python_keys: bool,
}

impl fmt::Debug for KvServiceRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvServiceRegistry")
            .field("bucket", &self.config)
            .field("python_keys", &self.python_keys)
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
            python_keys: true,
        }
    }

    /// Whether [`put`](Self::put) also writes the Python-form key
    /// `service-instances__{service}__{instance}` (after the dotted one), and
    /// [`deregister`](Self::deregister) deletes it. On by default. Reading is not affected:
    /// listings always read both forms.
    pub fn write_python_keys(mut self, write: bool) -> Self {
        self.python_keys = write;
        self
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
    /// also re-creates an entry that vanished): under the dotted key, then, with
    /// [`write_python_keys`](Self::write_python_keys), under the Python-form key. Fails when
    /// either write fails; returns the dotted key's revision.
    pub async fn put(&self, instance: &ServiceInstance) -> Result<u64> {
        let value =
            Bytes::from(serde_json::to_vec(instance).map_err(|e| Error::Transport(e.to_string()))?);
        let (service, id) = (&instance.service_name, &instance.instance_id);
        let revision = self.put_key(&registry_key(service, id), &value).await?;
        if self.python_keys {
            self.put_key(&python_registry_key(service, id), &value)
                .await?;
        }
        Ok(revision)
    }

    async fn put_key(&self, key: &str, value: &Bytes) -> Result<u64> {
        match self.store().await?.put(key, value.clone()).await {
            Ok(revision) => Ok(revision),
            Err(Error::Invalid { what, message }) => Err(Error::Invalid { what, message }),
            Err(first) => {
                tracing::debug!(%first, "registry write failed; reopening the bucket");
                self.reopen().await?.put(key, value.clone()).await
            }
        }
    }

    /// Removes the entry of `instance_id`: the dotted key, and the Python-form one with
    /// [`write_python_keys`](Self::write_python_keys). Both are tried; the first error is
    /// returned.
    pub async fn deregister(&self, service: &str, instance_id: &str) -> Result<()> {
        let store = self.store().await?;
        let dotted = store
            .delete(&registry_key(service, instance_id), None)
            .await;
        if self.python_keys {
            let python = store
                .delete(&python_registry_key(service, instance_id), None)
                .await;
            dotted.and(python)
        } else {
            dotted
        }
    }

    /// Every readable entry of `service`, dead or alive (see
    /// [`ServiceInstance::is_healthy`]), of either key form, one per instance, sorted by
    /// instance id. An instance under both forms (an aegis instance) is listed once, with the
    /// later `lastHeartbeat`.
    pub async fn list_instances(&self, service: &str) -> Result<Vec<ServiceInstance>> {
        if !Self::listable(service) {
            return Ok(Vec::new());
        }
        let store = self.store().await?;
        let dotted = format!("{}>", registry_service_prefix(service));
        let (dotted, python) =
            futures::try_join!(store.entries(&dotted), self.python_form_instances(service))?;
        let dotted = dotted
            .iter()
            .filter_map(|entry| forms::decode(entry, KeyForm::Dotted))
            .collect();
        Ok(forms::merge(dotted, python))
    }

    /// The entries of `service` stored under Python-form keys only (those of Python
    /// instances, and the copies aegis instances write), sorted by instance id.
    pub(crate) async fn python_form_instances(
        &self,
        service: &str,
    ) -> Result<Vec<ServiceInstance>> {
        if !Self::listable(service) {
            return Ok(Vec::new());
        }
        // One token each: `*` lists them all; a prefix that `__` makes ambiguous also
        // matches other services' keys, so the value's `serviceName` decides.
        let prefix = python_registry_service_prefix(service);
        let entries = self.store().await?.entries("*").await?;
        Ok(entries
            .iter()
            .filter(|entry| entry.key.starts_with(&prefix))
            .filter_map(|entry| forms::decode(entry, KeyForm::Python))
            .filter(|instance| instance.service_name == service)
            .collect())
    }

    /// No key holds wildcards or whitespace: such a name has no entries (and would make a
    /// pattern match other services', or not parse).
    fn listable(service: &str) -> bool {
        let pattern = format!("{}>", registry_service_prefix(service));
        !service.contains(['*', '>']) && validate_subject(&pattern, true).is_ok()
    }

    /// Every readable entry of every service, of either key form, one per instance, sorted
    /// by service and instance id.
    pub async fn list_all(&self) -> Result<Vec<ServiceInstance>> {
        let entries = self.store().await?.entries(">").await?;
        let (mut dotted, mut python) = (Vec::new(), Vec::new());
        for entry in &entries {
            match KeyForm::of(&entry.key) {
                Some(KeyForm::Dotted) => dotted.extend(forms::decode(entry, KeyForm::Dotted)),
                Some(KeyForm::Python) => python.extend(forms::decode(entry, KeyForm::Python)),
                None => {}
            }
        }
        Ok(forms::merge(dotted, python))
    }

    /// Every later change of any key in the registry's bucket: entries of both forms, and
    /// whatever else the bucket holds (the Python monitor-api's service definitions; see
    /// [`python_key_services`](crate::domain::subject::python_key_services) and
    /// [`service_of_key`](crate::domain::subject::service_of_key) to tell them apart).
    pub async fn watch(&self) -> Result<KvWatch> {
        self.store().await?.watch(">").await
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

    fn registry() -> (KvServiceRegistry, Arc<crate::adapters::memory::MemoryKv>) {
        let buckets = Arc::new(MemoryKvBuckets::default());
        let config = BucketConfig::new(REGISTRY_BUCKET);
        let registry = KvServiceRegistry::with_bucket(buckets.clone(), config.clone());
        (registry, buckets.bucket(config).unwrap())
    }

    async fn put_raw(kv: &crate::adapters::memory::MemoryKv, key: &str, value: &[u8]) {
        kv.put(key, Bytes::copy_from_slice(value)).await.unwrap();
    }

    #[tokio::test]
    async fn listings_hold_the_services_own_readable_entries_sorted() {
        let (registry, kv) = registry();
        for (service, id) in [("echo", "e-2"), ("echo", "e-1"), ("echo-two", "t-1")] {
            registry.put(&instance(service, id)).await.unwrap();
        }
        registry.put(&instance("echo", "gone")).await.unwrap();
        registry.deregister("echo", "gone").await.unwrap();
        put_raw(&kv, "service-instances.echo.junk", b"{").await;
        put_raw(&kv, "service-instances.lonely", b"{}").await;
        put_raw(&kv, "service-instances__echo__junk", b"{").await;

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

    #[tokio::test]
    async fn both_key_forms_are_written_and_deleted_unless_python_keys_are_off() {
        let (registry, kv) = registry();
        let entry = instance("echo", "e-1");
        registry.put(&entry).await.unwrap();
        let dotted = kv.get("service-instances.echo.e-1").await.unwrap().unwrap();
        let python = kv
            .get("service-instances__echo__e-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(dotted.value, python.value, "the same value");
        assert!(dotted.revision < python.revision, "the dotted key first");
        registry.deregister("echo", "e-1").await.unwrap();
        assert_eq!(kv.keys().await.unwrap(), Vec::<String>::new());

        let dotted_only = registry.clone().write_python_keys(false);
        dotted_only.put(&entry).await.unwrap();
        assert_eq!(kv.keys().await.unwrap(), ["service-instances.echo.e-1"]);
        // Read all the same.
        put_raw(
            &kv,
            "service-instances__echo__e-2",
            &serde_json::to_vec(&instance("echo", "e-2")).unwrap(),
        )
        .await;
        let listed = dotted_only.list_instances("echo").await.unwrap();
        assert_eq!(ids(&listed), [("echo", "e-1"), ("echo", "e-2")]);
    }

    #[tokio::test]
    async fn python_form_entries_are_listed_by_their_values_name_and_once() {
        let (registry, kv) = registry();
        // An aegis instance: under both forms, listed once.
        registry.put(&instance("echo", "echo-1")).await.unwrap();
        // Python instances, one of a service whose name makes `__` ambiguous.
        for (service, id) in [("echo", "echo-py"), ("echo__x", "x-1"), ("my_svc", "m-1")] {
            let value = serde_json::to_vec(&instance(service, id)).unwrap();
            put_raw(&kv, &python_registry_key(service, id), &value).await;
        }
        // A value under a key that is not its own, and the monitor-api's definitions.
        let misplaced = serde_json::to_vec(&instance("other", "o-1")).unwrap();
        put_raw(&kv, "service-instances__echo__o-1", &misplaced).await;
        put_raw(&kv, "echo", br#"{"name":"echo"}"#).await;

        let echo = registry.list_instances("echo").await.unwrap();
        assert_eq!(ids(&echo), [("echo", "echo-1"), ("echo", "echo-py")]);
        let python = registry.python_form_instances("echo").await.unwrap();
        assert_eq!(ids(&python), [("echo", "echo-1"), ("echo", "echo-py")]);
        let ambiguous = registry.list_instances("echo__x").await.unwrap();
        assert_eq!(ids(&ambiguous), [("echo__x", "x-1")]);
        let all = registry.list_all().await.unwrap();
        assert_eq!(
            ids(&all),
            [
                ("echo", "echo-1"),
                ("echo", "echo-py"),
                ("echo__x", "x-1"),
                ("my_svc", "m-1")
            ]
        );
    }

    #[test]
    fn keys() {
        use crate::domain::subject::service_of_key;
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
