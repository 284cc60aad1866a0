//! In-memory KV buckets with JetStream KV semantics.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream_lite::UnboundedReceiverStream;

use crate::domain::subject::{subject_matches, validate_kv_key, validate_subject};
use crate::ports::{
    BoxFuture, BucketConfig, Clock, KvBuckets, KvEntry, KvOperation, KvStore, KvWatch, SystemClock,
};
use crate::{Error, Result};

/// Opens in-memory buckets by name; opening a name twice gives the same bucket.
#[derive(Clone)]
pub struct MemoryKvBuckets {
    clock: Arc<dyn Clock>,
    buckets: Arc<Mutex<HashMap<String, Arc<MemoryKv>>>>,
}

impl fmt::Debug for MemoryKvBuckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKvBuckets").finish_non_exhaustive()
    }
}

impl Default for MemoryKvBuckets {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl MemoryKvBuckets {
    /// Buckets whose expiry follows `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryKvBuckets {
            clock,
            buckets: Arc::default(),
        }
    }

    /// Opens (creating when missing) the bucket `config.name`.
    pub fn bucket(&self, config: BucketConfig) -> Result<Arc<MemoryKv>> {
        let valid = !config.name.is_empty()
            && config
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(Error::invalid(
                "bucket name",
                format!("`{}` must be letters, digits, `_` and `-`", config.name),
            ));
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = buckets.entry(config.name.clone()).or_insert_with(|| {
            Arc::new_cyclic(|me| MemoryKv {
                clock: Arc::clone(&self.clock),
                max_age: config.max_age,
                announce_expiry: config.announce_expiry,
                me: me.clone(),
                state: Mutex::default(),
            })
        });
        Ok(Arc::clone(bucket))
    }
}

impl KvBuckets for MemoryKvBuckets {
    fn open_bucket(&self, config: BucketConfig) -> BoxFuture<'_, Result<Arc<dyn KvStore>>> {
        let bucket = self.bucket(config).map(|b| b as Arc<dyn KvStore>);
        Box::pin(async move { bucket })
    }

    fn existing_bucket<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<dyn KvStore>>>> {
        let buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let found = buckets
            .get(name)
            .map(|bucket| Arc::clone(bucket) as Arc<dyn KvStore>);
        Box::pin(async move { Ok(found) })
    }
}

/// One in-memory bucket.
pub struct MemoryKv {
    clock: Arc<dyn Clock>,
    max_age: Option<Duration>,
    /// Tell watchers when `max_age` removes a value, as nats-server's delete markers do.
    announce_expiry: bool,
    /// For the expiry timers, which must not keep the bucket alive.
    me: Weak<MemoryKv>,
    state: Mutex<State>,
}

impl fmt::Debug for MemoryKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKv")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    revision: u64,
    latest: HashMap<String, Stored>,
    watchers: Vec<(String, mpsc::UnboundedSender<Result<KvEntry>>)>,
}

struct Stored {
    entry: KvEntry,
    written: Instant,
}

impl MemoryKv {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The key's latest record, dropping it first if it outlived `max_age` (as the server's
    /// `max_age` removes the message, leaving no trace).
    fn latest<'s>(&self, state: &'s mut State, key: &str) -> Option<&'s KvEntry> {
        let expired = match (self.max_age, state.latest.get(key)) {
            (Some(max_age), Some(stored)) => {
                self.clock.now().duration_since(stored.written) >= max_age
            }
            _ => false,
        };
        if expired {
            state.latest.remove(key);
        }
        state.latest.get(key).map(|s| &s.entry)
    }

    fn write(&self, state: &mut State, key: &str, value: Bytes, operation: KvOperation) -> u64 {
        state.revision += 1;
        let entry = KvEntry {
            key: key.to_owned(),
            value,
            revision: state.revision,
            operation,
        };
        // Sent under the lock that assigned the revision: watchers see revision order.
        state.watchers.retain(|(pattern, tx)| {
            if subject_matches(pattern, key) {
                tx.send(Ok(entry.clone())).is_ok()
            } else {
                !tx.is_closed()
            }
        });
        let written = self.clock.now();
        state
            .latest
            .insert(key.to_owned(), Stored { entry, written });
        if operation == KvOperation::Put {
            self.announce_at_expiry(key, state.revision);
        }
        state.revision
    }

    /// With `announce_expiry`: once `max_age` has passed, removes the value written at
    /// `revision` (unless rewritten since) and tells watchers with a purge, as nats-server
    /// does with a delete marker.
    fn announce_at_expiry(&self, key: &str, revision: u64) {
        let (Some(max_age), true) = (self.max_age, self.announce_expiry) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (me, key, expiry) = (self.me.clone(), key.to_owned(), self.clock.sleep(max_age));
        runtime.spawn(async move {
            expiry.await;
            if let Some(kv) = me.upgrade() {
                kv.expire(&key, revision);
            }
        });
    }

    fn expire(&self, key: &str, revision: u64) {
        let mut state = self.state();
        let current = state.latest.get(key).map(|s| s.entry.revision);
        if current == Some(revision) {
            state.latest.remove(key);
            self.write(&mut state, key, Bytes::new(), KvOperation::Purge);
        }
    }
}

impl KvStore for MemoryKv {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<KvEntry>>> {
        let result = validate_kv_key(key).map(|()| {
            let mut state = self.state();
            self.latest(&mut state, key)
                .filter(|e| e.operation == KvOperation::Put)
                .cloned()
        });
        Box::pin(async move { result })
    }

    fn put<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<u64>> {
        let result = validate_kv_key(key).map(|()| {
            let mut state = self.state();
            self.write(&mut state, key, value, KvOperation::Put)
        });
        Box::pin(async move { result })
    }

    fn create<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<u64>> {
        let result = validate_kv_key(key).and_then(|()| {
            let mut state = self.state();
            let live = self
                .latest(&mut state, key)
                .is_some_and(|e| e.operation == KvOperation::Put);
            if live {
                return Err(Error::Conflict {
                    key: key.to_owned(),
                });
            }
            Ok(self.write(&mut state, key, value, KvOperation::Put))
        });
        Box::pin(async move { result })
    }

    fn update<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        revision: u64,
    ) -> BoxFuture<'a, Result<u64>> {
        let result = validate_kv_key(key).and_then(|()| {
            let mut state = self.state();
            let latest = self.latest(&mut state, key).map_or(0, |e| e.revision);
            if latest != revision {
                return Err(Error::Conflict {
                    key: key.to_owned(),
                });
            }
            Ok(self.write(&mut state, key, value, KvOperation::Put))
        });
        Box::pin(async move { result })
    }

    fn delete<'a>(&'a self, key: &'a str, revision: Option<u64>) -> BoxFuture<'a, Result<()>> {
        let result = validate_kv_key(key).and_then(|()| {
            let mut state = self.state();
            if let Some(expected) = revision {
                let latest = self.latest(&mut state, key).map_or(0, |e| e.revision);
                if latest != expected {
                    return Err(Error::Conflict {
                        key: key.to_owned(),
                    });
                }
            }
            self.write(&mut state, key, Bytes::new(), KvOperation::Delete);
            Ok(())
        });
        Box::pin(async move { result })
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        let mut state = self.state();
        let all: Vec<String> = state.latest.keys().cloned().collect();
        let live = all
            .into_iter()
            .filter(|key| {
                self.latest(&mut state, key)
                    .is_some_and(|e| e.operation == KvOperation::Put)
            })
            .collect();
        Box::pin(async move { Ok(live) })
    }

    fn entries<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<KvEntry>>> {
        let result = validate_subject(pattern, true).map(|()| {
            let mut state = self.state();
            let mut matching: Vec<String> = state
                .latest
                .keys()
                .filter(|key| subject_matches(pattern, key))
                .cloned()
                .collect();
            matching.sort_unstable();
            matching
                .iter()
                .filter_map(|key| {
                    self.latest(&mut state, key)
                        .filter(|e| e.operation == KvOperation::Put)
                        .cloned()
                })
                .collect()
        });
        Box::pin(async move { result })
    }

    fn watch<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<KvWatch>> {
        let result = validate_subject(pattern, true).map(|()| {
            let (tx, rx) = mpsc::unbounded_channel();
            self.state().watchers.push((pattern.to_owned(), tx));
            KvWatch::new(UnboundedReceiverStream(rx))
        });
        Box::pin(async move { result })
    }
}

/// `tokio::sync::mpsc::UnboundedReceiver` as a `Stream` (without pulling in tokio-stream).
mod tokio_stream_lite {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::sync::mpsc::UnboundedReceiver;

    pub(super) struct UnboundedReceiverStream<T>(pub(super) UnboundedReceiver<T>);

    impl<T> futures::Stream for UnboundedReceiverStream<T> {
        type Item = T;

        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::adapters::memory::ManualClock;
    use futures::{FutureExt, StreamExt};

    fn bucket(clock: &ManualClock, max_age: Option<Duration>) -> Arc<MemoryKv> {
        let buckets = MemoryKvBuckets::new(Arc::new(clock.clone()));
        let mut config = BucketConfig::new("test");
        config.max_age = max_age;
        buckets.bucket(config).unwrap()
    }

    #[tokio::test]
    async fn values_expire_after_max_age_on_the_buckets_clock() {
        let clock = ManualClock::new();
        let kv = bucket(&clock, Some(Duration::from_secs(10)));
        let first = kv.create("lease", Bytes::from_static(b"a")).await.unwrap();
        clock.advance(Duration::from_secs(9));
        assert!(kv.get("lease").await.unwrap().is_some());
        assert!(matches!(
            kv.create("lease", Bytes::from_static(b"b")).await,
            Err(Error::Conflict { .. })
        ));
        // Renewing restarts the age.
        let renewed = kv
            .update("lease", Bytes::from_static(b"a2"), first)
            .await
            .unwrap();
        clock.advance(Duration::from_secs(9));
        assert_eq!(kv.get("lease").await.unwrap().unwrap().revision, renewed);
        clock.advance(Duration::from_secs(1));
        assert_eq!(kv.get("lease").await.unwrap(), None);
        assert!(kv.keys().await.unwrap().is_empty());
        // An expired value can be created again, and its old revision no longer updates.
        assert!(kv.update("lease", Bytes::new(), renewed).await.is_err());
        kv.create("lease", Bytes::from_static(b"b")).await.unwrap();
    }

    #[tokio::test]
    async fn without_max_age_nothing_expires() {
        let clock = ManualClock::new();
        let kv = bucket(&clock, None);
        kv.put("k", Bytes::from_static(b"v")).await.unwrap();
        clock.advance(Duration::from_secs(86_400 * 365));
        assert!(kv.get("k").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn keys_and_bucket_names_are_validated() {
        let clock = ManualClock::new();
        let kv = bucket(&clock, None);
        for bad in ["", ".a", "a.", "a b", "a*"] {
            assert!(
                matches!(kv.put(bad, Bytes::new()).await, Err(Error::Invalid { .. })),
                "{bad:?}"
            );
        }
        kv.put("service-instances.echo.e-1", Bytes::new())
            .await
            .unwrap();
        let buckets = MemoryKvBuckets::default();
        assert!(buckets.bucket(BucketConfig::new("bad.name")).is_err());
        assert!(
            buckets
                .bucket(BucketConfig::new("service_registry"))
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_tombstone_is_the_latest_revision() {
        let clock = ManualClock::new();
        let kv = bucket(&clock, None);
        let put = kv.put("k", Bytes::from_static(b"v")).await.unwrap();
        kv.delete("k", Some(put)).await.unwrap();
        // The tombstone took the next revision; the old one is stale now.
        assert!(matches!(
            kv.update("k", Bytes::new(), put).await,
            Err(Error::Conflict { .. })
        ));
        assert!(matches!(
            kv.delete("k", Some(put)).await,
            Err(Error::Conflict { .. })
        ));
        // As on NATS, updating over the tombstone with its revision succeeds.
        let revised = kv
            .update("k", Bytes::from_static(b"w"), put + 1)
            .await
            .unwrap();
        assert_eq!(revised, put + 2);
        assert_eq!(kv.get("k").await.unwrap().unwrap().value.as_ref(), b"w");
    }

    #[tokio::test]
    async fn reopening_a_bucket_shares_it_and_watch_reports_operations() {
        let clock = ManualClock::new();
        let buckets = MemoryKvBuckets::new(Arc::new(clock));
        let first = buckets.open_bucket(BucketConfig::new("b")).await.unwrap();
        let second = buckets.open_bucket(BucketConfig::new("b")).await.unwrap();
        let mut watch = second.watch("a.*").await.unwrap();
        first.put("a.x", Bytes::from_static(b"1")).await.unwrap();
        first.put("b.x", Bytes::from_static(b"2")).await.unwrap();
        first.delete("a.x", None).await.unwrap();
        let seen: Vec<(String, u64, KvOperation)> = (0..2)
            .map(|_| {
                let entry = watch.next().now_or_never().unwrap().unwrap().unwrap();
                (entry.key, entry.revision, entry.operation)
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("a.x".to_owned(), 1, KvOperation::Put),
                ("a.x".to_owned(), 3, KvOperation::Delete)
            ]
        );
        assert!(watch.next().now_or_never().is_none());
        assert_eq!(second.get("b.x").await.unwrap().unwrap().revision, 2);
    }

    #[tokio::test]
    async fn dropped_watchers_are_forgotten() {
        let clock = ManualClock::new();
        let kv = bucket(&clock, None);
        drop(kv.watch("x.>").await.unwrap());
        kv.put("other", Bytes::new()).await.unwrap();
        assert!(kv.state().watchers.is_empty());
    }
}
