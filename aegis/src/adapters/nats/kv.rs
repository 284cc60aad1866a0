//! [`KvStore`] on JetStream KV.

use std::fmt;
use std::sync::Arc;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::error;
use crate::Result;
use crate::ports::{BoxFuture, BucketConfig, KvBuckets, KvEntry, KvOperation, KvStore, KvWatch};

/// Opens JetStream KV buckets (creating missing ones). Cheap to clone.
#[derive(Clone)]
pub struct NatsKvBuckets {
    jetstream: jetstream::Context,
}

impl fmt::Debug for NatsKvBuckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsKvBuckets").finish_non_exhaustive()
    }
}

impl NatsKvBuckets {
    pub(super) fn new(client: async_nats::Client) -> Self {
        NatsKvBuckets {
            jetstream: jetstream::new(client),
        }
    }
}

impl KvBuckets for NatsKvBuckets {
    fn open_bucket(&self, config: BucketConfig) -> BoxFuture<'_, Result<Arc<dyn KvStore>>> {
        Box::pin(async move {
            // An existing bucket is used as it is (another peer may have created it).
            let store = match self.jetstream.get_key_value(config.name.clone()).await {
                Ok(store) => store,
                Err(_) => self
                    .jetstream
                    .create_key_value(kv::Config {
                        bucket: config.name.clone(),
                        history: i64::from(config.history.max(1)),
                        max_age: config.max_age.unwrap_or_default(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| {
                        error::transport(&format!("creating bucket `{}`", config.name), e)
                    })?,
            };
            Ok(Arc::new(NatsKv { store }) as Arc<dyn KvStore>)
        })
    }
}

/// One JetStream KV bucket.
struct NatsKv {
    store: kv::Store,
}

fn operation(op: kv::Operation) -> KvOperation {
    match op {
        kv::Operation::Put => KvOperation::Put,
        kv::Operation::Delete => KvOperation::Delete,
        kv::Operation::Purge => KvOperation::Purge,
    }
}

fn entry(e: kv::Entry) -> KvEntry {
    KvEntry {
        key: e.key,
        value: e.value,
        revision: e.revision,
        operation: operation(e.operation),
    }
}

fn check_key(key: &str) -> Result<()> {
    let valid = !key.is_empty()
        && !key.starts_with('.')
        && !key.ends_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(error::invalid_key(key))
    }
}

impl KvStore for NatsKv {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<KvEntry>>> {
        Box::pin(async move {
            check_key(key)?;
            let found = self
                .store
                .entry(key)
                .await
                .map_err(|e| error::transport("kv get", e))?;
            Ok(found
                .filter(|e| e.operation == kv::Operation::Put)
                .map(entry))
        })
    }

    fn put<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            check_key(key)?;
            self.store
                .put(key, value)
                .await
                .map_err(|e| error::transport("kv put", e))
        })
    }

    fn create<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            check_key(key)?;
            self.store
                .create(key, value)
                .await
                .map_err(|e| error::create(e, key))
        })
    }

    fn update<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        revision: u64,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            check_key(key)?;
            self.store
                .update(key, value, revision)
                .await
                .map_err(|e| error::update(e, key))
        })
    }

    fn delete<'a>(&'a self, key: &'a str, revision: Option<u64>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            check_key(key)?;
            self.store
                .delete_expect_revision(key, revision)
                .await
                .map_err(|e| error::update(e, key))
        })
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async move {
            let keys = self
                .store
                .keys()
                .await
                .map_err(|e| error::transport("kv keys", e))?;
            keys.try_collect()
                .await
                .map_err(|e| error::transport("kv keys", e))
        })
    }

    fn watch<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<KvWatch>> {
        Box::pin(async move {
            crate::domain::subject::validate_subject(pattern, true)?;
            let watch = self
                .store
                .watch(pattern)
                .await
                .map_err(|e| error::transport("kv watch", e))?;
            // The ordered consumer behind the watch is recreated after a reconnect and may
            // deliver a revision again: pass each revision once, in order.
            let mut last = 0;
            Ok(KvWatch::new(watch.filter_map(move |item| {
                let item = match item {
                    Ok(e) if e.revision <= last => None,
                    Ok(e) => {
                        last = e.revision;
                        Some(Ok(entry(e)))
                    }
                    Err(e) => Some(Err(error::transport("kv watch", e))),
                };
                std::future::ready(item)
            })))
        })
    }
}
