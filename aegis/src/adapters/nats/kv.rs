//! [`KvStore`] on JetStream KV.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::CreateKeyValueErrorKind;
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::direct_get::{Answer, DirectGet};
use super::error;
use super::placement::Placement;
use super::stats::ConnectionStats;
use crate::domain::subject::{subject_matches, validate_kv_key, validate_subject};
use crate::ports::{BoxFuture, BucketConfig, KvBuckets, KvEntry, KvOperation, KvStore, KvWatch};
use crate::{Error, Result};

/// Opens JetStream KV buckets (creating missing ones). Cheap to clone.
#[derive(Clone)]
pub struct NatsKvBuckets {
    jetstream: jetstream::Context,
    stats: Arc<ConnectionStats>,
    placement: Placement,
}

impl fmt::Debug for NatsKvBuckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsKvBuckets").finish_non_exhaustive()
    }
}

impl NatsKvBuckets {
    pub(super) fn new(
        client: async_nats::Client,
        stats: Arc<ConnectionStats>,
        placement: Placement,
    ) -> Self {
        NatsKvBuckets {
            jetstream: jetstream::with_prefix(client, API_PREFIX),
            stats,
            placement,
        }
    }
}

impl NatsKvBuckets {
    async fn create_bucket(
        &self,
        config: &BucketConfig,
        server: &async_nats::ServerInfo,
    ) -> Result<kv::Store> {
        let max_age = config.max_age.unwrap_or_default();
        let wanted = kv::Config {
            bucket: config.name.clone(),
            history: i64::from(config.history.max(1)),
            max_age,
            storage: self.placement.storage_type(),
            num_replicas: self.placement.replicas(server),
            // A delete marker when `max_age` removes a value; it stays for as long again.
            limit_markers: (config.announce_expiry && !max_age.is_zero())
                .then(|| max_age.max(MIN_MARKER_TTL)),
            ..Default::default()
        };
        let (mut replicas, mut markers) = (wanted.num_replicas, wanted.limit_markers);
        loop {
            let created = self
                .jetstream
                .create_key_value(kv::Config {
                    num_replicas: replicas,
                    limit_markers: markers,
                    ..wanted.clone()
                })
                .await;
            match created {
                Ok(store) => return Ok(store),
                Err(e)
                    if e.kind() == CreateKeyValueErrorKind::LimitMarkersNotSupported
                        && markers.is_some() =>
                {
                    tracing::info!(
                        bucket = %config.name,
                        "this nats-server does not announce expiries (2.11 or later does): \
                         watchers of the bucket are not told"
                    );
                    markers = None;
                }
                Err(e) => match self.placement.fallback(replicas) {
                    Some(fewer) => {
                        self.placement
                            .warn_fallback("bucket", &config.name, replicas, &e);
                        replicas = fewer;
                    }
                    None => {
                        let context = format!("creating bucket `{}`", config.name);
                        return Err(error::transport(&context, e));
                    }
                },
            }
        }
    }
}

impl NatsKvBuckets {
    /// The bucket `name`, asked for again every second while no answer comes: the look-up
    /// (a stream info) is answered by the stream's leader, and one that was just lost
    /// leaves the request unanswered until a new one is elected (seconds), where waiting
    /// out one request's timeout (10 s) would add the rest of it.
    async fn look_up(&self, name: &str) -> std::result::Result<kv::Store, String> {
        let deadline = tokio::time::Instant::now() + DEFAULT_TIMEOUT;
        loop {
            let attempt = self.jetstream.get_key_value(name.to_owned());
            match tokio::time::timeout(LOOK_UP_ATTEMPT, attempt).await {
                Ok(found) => return found.map_err(|e| e.to_string()),
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(bucket = name, "bucket look-up unanswered; asking again");
                }
                Err(_) => return Err(format!("looking up bucket `{name}`: no answer")),
            }
        }
    }
}

/// One look-up of a bucket (see [`NatsKvBuckets::look_up`]).
const LOOK_UP_ATTEMPT: Duration = Duration::from_secs(1);

impl KvBuckets for NatsKvBuckets {
    fn open_bucket(&self, config: BucketConfig) -> BoxFuture<'_, Result<Arc<dyn KvStore>>> {
        Box::pin(async move {
            // An existing bucket is used as it is (another peer may have created it).
            let found = self.look_up(&config.name).await;
            // Read after a round trip: a connection still being made has no INFO yet.
            let server = self.jetstream.client().server_info();
            let store = match found {
                Ok(store) => {
                    if let Ok(status) = store.status().await {
                        let replicas = status.info.config.num_replicas;
                        self.placement
                            .check_existing("bucket", &config.name, replicas, &server);
                    }
                    store
                }
                Err(_) => self.create_bucket(&config, &server).await?,
            };
            Ok(self.wrap(store))
        })
    }

    fn existing_bucket<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Arc<dyn KvStore>>>> {
        Box::pin(async move {
            let attempt = self.jetstream.get_key_value(name.to_owned());
            let found = tokio::time::timeout(DEFAULT_TIMEOUT, attempt)
                .await
                .map_err(|_| Error::Timeout {
                    subject: format!("$JS.API.STREAM.INFO.KV_{name}"),
                    after: DEFAULT_TIMEOUT,
                })?;
            match found {
                Ok(store) => Ok(Some(self.wrap(store))),
                Err(error) if is_missing_bucket(&error) => Ok(None),
                Err(error) => Err(Error::Transport(format!(
                    "looking up bucket `{name}`: {error}"
                ))),
            }
        })
    }
}

impl NatsKvBuckets {
    fn wrap(&self, store: kv::Store) -> Arc<dyn KvStore> {
        let client = self.jetstream.client();
        let timeout = client.timeout().unwrap_or(DEFAULT_TIMEOUT);
        let direct_get =
            DirectGet::new(client, Arc::clone(&self.stats), API_PREFIX, &store, timeout);
        Arc::new(NatsKv {
            store,
            direct_get,
            reconnects: self.stats.reconnects(),
            stats: Arc::clone(&self.stats),
        })
    }
}

/// The bucket's stream does not exist (JetStream error 10059), as opposed to a failed look-up.
fn is_missing_bucket(error: &jetstream::context::KeyValueError) -> bool {
    use async_nats::jetstream::ErrorCode;
    use async_nats::jetstream::context::{GetStreamError, GetStreamErrorKind};
    std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<GetStreamError>())
        .is_some_and(|source| {
            matches!(source.kind(), GetStreamErrorKind::JetStream(js)
                if js.error_code() == ErrorCode::STREAM_NOT_FOUND)
        })
}

/// JetStream's shortest delete-marker lifetime.
const MIN_MARKER_TTL: Duration = Duration::from_secs(1);

/// The JetStream API the buckets are reached through (the account's own, no domain); the
/// batched direct gets are sent there too.
const API_PREFIX: &str = "$JS.API";

/// The wait for a direct get when the connection sets no request timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One JetStream KV bucket.
struct NatsKv {
    store: kv::Store,
    direct_get: DirectGet,
    reconnects: tokio::sync::watch::Receiver<u64>,
    stats: Arc<ConnectionStats>,
}

impl NatsKv {
    /// `write`, failing at once if the server refuses this user the key's subject.
    async fn unless_denied<T>(
        &self,
        key: &str,
        write: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let subject = format!("{}{key}", self.store.prefix);
        self.stats.unless_denied(subject, write).await
    }

    /// `entries` by listing the keys (a consumer) and reading each: where batched direct
    /// gets are not served.
    async fn entries_one_by_one(&self, pattern: &str) -> Result<Vec<KvEntry>> {
        let mut entries = Vec::new();
        for key in self.keys().await? {
            if !subject_matches(pattern, &key) {
                continue;
            }
            // `None`: deleted between listing and reading.
            if let Some(entry) = self.get(&key).await? {
                entries.push(entry);
            }
        }
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries)
    }
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

impl KvStore for NatsKv {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<KvEntry>>> {
        Box::pin(async move {
            validate_kv_key(key)?;
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
            validate_kv_key(key)?;
            let put = async {
                self.store
                    .put(key, value)
                    .await
                    .map_err(|e| error::transport("kv put", e))
            };
            self.unless_denied(key, put).await
        })
    }

    fn create<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            validate_kv_key(key)?;
            let create = async {
                // Not `Store::create`: it answers any failed write with a read, and reports
                // "already exists" when the read finds a value, so a bucket whose stream has no
                // leader (a replica still serves the read) looked taken instead of unreachable.
                let first = match self.store.update(key, value.clone(), 0).await {
                    Ok(revision) => return Ok(revision),
                    Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => e,
                    Err(e) => return Err(error::update(e, key)),
                };
                match self.store.entry(key).await {
                    // A delete, purge or expiry marker: the key may be written again, on that
                    // revision only.
                    Ok(Some(e)) if e.operation != kv::Operation::Put => self
                        .store
                        .update(key, value, e.revision)
                        .await
                        .map_err(|e| error::update(e, key)),
                    Ok(Some(_)) => Err(Error::Conflict {
                        key: key.to_owned(),
                    }),
                    // The read disagrees with the write (a replica behind the leader): the
                    // write's answer stands.
                    Ok(None) => Err(error::update(first, key)),
                    Err(e) => Err(error::transport("kv create", e)),
                }
            };
            self.unless_denied(key, create).await
        })
    }

    fn update<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        revision: u64,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            validate_kv_key(key)?;
            let update = async {
                self.store
                    .update(key, value, revision)
                    .await
                    .map_err(|e| error::update(e, key))
            };
            self.unless_denied(key, update).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str, revision: Option<u64>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            validate_kv_key(key)?;
            let delete = async {
                self.store
                    .delete_expect_revision(key, revision)
                    .await
                    .map_err(|e| error::update(e, key))
            };
            self.unless_denied(key, delete).await
        })
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async move {
            let keys = self
                .store
                .keys()
                .await
                .map_err(|e| error::transport("kv keys", e))?;
            // The listing consumer also delivers writes made while it runs: a key can come
            // twice.
            let unique: std::collections::BTreeSet<String> = keys
                .try_collect()
                .await
                .map_err(|e| error::transport("kv keys", e))?;
            Ok(unique.into_iter().collect())
        })
    }

    fn entries<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<KvEntry>>> {
        Box::pin(async move {
            validate_subject(pattern, true)?;
            if !self.direct_get.worth_trying() {
                return self.entries_one_by_one(pattern).await;
            }
            match self.direct_get.latest(pattern).await? {
                Answer::Entries(entries) => Ok(entries),
                Answer::Unsupported(why) => {
                    tracing::debug!(
                        bucket = %self.store.name,
                        why,
                        "no batched direct get; listing keys with a consumer"
                    );
                    self.entries_one_by_one(pattern).await
                }
            }
        })
    }

    fn watch<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<KvWatch>> {
        Box::pin(async move {
            validate_subject(pattern, true)?;
            let first = self
                .store
                .watch(pattern)
                .await
                .map_err(|e| error::transport("kv watch", e))?;
            let mut reconnects = self.reconnects.clone();
            reconnects.mark_unchanged();
            let state = Resuming {
                store: self.store.clone(),
                reconnects,
                pattern: pattern.to_owned(),
                last: 0,
                watch: Some(first),
                failures: 0,
            };
            Ok(KvWatch::new(futures::stream::unfold(state, Resuming::next)))
        })
    }
}

/// A watch that survives reconnects: after every reconnect, and whenever the consumer behind
/// it fails, it is re-created from the revision after the last one delivered, so no change
/// is lost; revisions already delivered are skipped.
struct Resuming {
    store: kv::Store,
    reconnects: tokio::sync::watch::Receiver<u64>,
    pattern: String,
    last: u64,
    watch: Option<kv::Watch>,
    failures: u32,
}

impl Resuming {
    async fn next(mut self) -> Option<(Result<KvEntry>, Self)> {
        loop {
            let Some(watch) = self.watch.as_mut() else {
                self.resubscribe().await;
                continue;
            };
            let next = tokio::select! {
                next = watch.next() => next,
                // The server may have lost the consumer: do not wait for missed heartbeats.
                Ok(()) = self.reconnects.changed() => {
                    tracing::debug!(pattern = %self.pattern, "reconnected; re-creating kv watch");
                    self.watch = None;
                    continue;
                }
            };
            match next {
                Some(Ok(e)) if e.revision <= self.last => {}
                Some(Ok(e)) => {
                    self.last = e.revision;
                    self.failures = 0;
                    return Some((Ok(entry(e)), self));
                }
                Some(Err(error)) => {
                    tracing::warn!(pattern = %self.pattern, %error, "kv watch interrupted; resuming");
                    self.watch = None;
                }
                None => self.watch = None,
            }
        }
    }

    async fn resubscribe(&mut self) {
        // Back off while the server is unreachable: 100 ms doubling to 2 s.
        if self.failures > 0 {
            let exponent = self.failures.min(5);
            let delay = Duration::from_millis(100 * (1 << exponent)).min(Duration::from_secs(2));
            tokio::time::sleep(delay).await;
        }
        let watch = if self.last == 0 {
            self.store.watch(&self.pattern).await
        } else {
            self.store
                .watch_from_revision(&self.pattern, self.last + 1)
                .await
        };
        match watch {
            Ok(watch) => self.watch = Some(watch),
            Err(error) => {
                self.failures += 1;
                tracing::debug!(pattern = %self.pattern, %error, "kv watch not re-created yet");
            }
        }
    }
}
