use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;

use super::BoxFuture;
use crate::Result;

/// What a KV entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOperation {
    /// A value was written.
    Put,
    /// The key was deleted (a tombstone; `create` may write it again).
    Delete,
    /// The key and its history were purged.
    Purge,
}

/// One revision of one key.
#[derive(Debug, Clone, PartialEq)]
pub struct KvEntry {
    /// The key.
    pub key: String,
    /// The value (empty for deletes).
    pub value: Bytes,
    /// Revision: a bucket-wide, strictly increasing sequence number.
    pub revision: u64,
    /// What happened.
    pub operation: KvOperation,
}

/// A key-value bucket with NATS JetStream KV semantics.
///
/// Contract (checked by `testing::kv`):
/// - revisions are bucket-wide and strictly increasing;
/// - `create` fails with [`crate::Error::Conflict`] if the key holds a live value
///   (it succeeds over a deleted key);
/// - `update` fails with [`crate::Error::Conflict`] unless `revision` is the key's latest;
/// - `delete` with `Some(revision)` fails with [`crate::Error::Conflict`] unless it is the latest;
/// - `get` returns live values only (`None` after delete or expiry);
/// - `entries` returns, in one call, the latest value of every live key matching a pattern,
///   sorted by key (deleted, purged and expired keys are left out);
/// - `watch` yields every later change of matching keys in revision order;
/// - with a bucket `max_age`, a value older than that is gone (`get` returns `None`).
pub trait KvStore: Send + Sync + 'static {
    /// The latest live value of `key`.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<KvEntry>>>;

    /// Writes `value` unconditionally; returns the new revision.
    fn put<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<u64>>;

    /// Writes `value` only if `key` has no live value; returns the new revision.
    fn create<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<u64>>;

    /// Writes `value` only if `revision` is the latest revision of `key`.
    fn update<'a>(
        &'a self,
        key: &'a str,
        value: Bytes,
        revision: u64,
    ) -> BoxFuture<'a, Result<u64>>;

    /// Deletes `key`, only if its latest revision is `revision` when one is given.
    fn delete<'a>(&'a self, key: &'a str, revision: Option<u64>) -> BoxFuture<'a, Result<()>>;

    /// Keys with a live value, in no particular order.
    fn keys(&self) -> BoxFuture<'_, Result<Vec<String>>>;

    /// The latest entry of every key matching `pattern` (NATS subject wildcards: `*`, `>`)
    /// that holds a live value, sorted by key.
    fn entries<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<KvEntry>>>;

    /// Changes to keys matching `pattern` (NATS subject wildcards: `*`, `>`) from now on.
    fn watch<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<KvWatch>>;
}

/// A stream of KV changes. Dropping it stops the watch.
pub struct KvWatch {
    inner: Pin<Box<dyn Stream<Item = Result<KvEntry>> + Send>>,
}

impl KvWatch {
    /// Wraps an adapter's stream.
    pub fn new(stream: impl Stream<Item = Result<KvEntry>> + Send + 'static) -> Self {
        KvWatch {
            inner: Box::pin(stream),
        }
    }
}

impl fmt::Debug for KvWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvWatch").finish_non_exhaustive()
    }
}

impl Stream for KvWatch {
    type Item = Result<KvEntry>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Settings for a KV bucket; the adapter creates the bucket when missing and otherwise opens it
/// as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    /// Bucket name (`[A-Za-z0-9_-]+`).
    pub name: String,
    /// Values older than this are gone (garbage collection; no notification is promised
    /// unless `announce_expiry`).
    pub max_age: Option<std::time::Duration>,
    /// Revisions kept per key (1 to 64).
    pub history: u8,
    /// Watchers see a value that `max_age` removes as a [`KvOperation::Purge`], where the
    /// backend can (nats-server 2.11 and later: subject delete markers; in memory: always).
    /// Elsewhere the value still goes, silently.
    pub announce_expiry: bool,
}

impl BucketConfig {
    /// A bucket named `name`, no expiry, history 1.
    pub fn new(name: impl Into<String>) -> Self {
        BucketConfig {
            name: name.into(),
            max_age: None,
            history: 1,
            announce_expiry: false,
        }
    }

    /// Asks watchers to be told when `max_age` removes a value (the field of the same name
    /// says where that works).
    pub fn announce_expiry(mut self) -> Self {
        self.announce_expiry = true;
        self
    }

    /// Sets the maximum age of values.
    pub fn max_age(mut self, max_age: std::time::Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }
}

/// Opens KV buckets (creating them when missing, or only when they exist).
///
/// Contract (checked by `testing::kv`): `existing_bucket` finds a bucket `open_bucket` made,
/// and gives `None` (creating nothing) for a name never opened.
pub trait KvBuckets: Send + Sync + 'static {
    /// Opens the bucket described by `config`, creating it when missing.
    fn open_bucket(
        &self,
        config: BucketConfig,
    ) -> BoxFuture<'_, Result<std::sync::Arc<dyn KvStore>>>;

    /// Opens the bucket `name` if it exists, `None` if not: for readers, which must not
    /// create a bucket with settings its owner would then inherit.
    fn existing_bucket<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<std::sync::Arc<dyn KvStore>>>>;
}
