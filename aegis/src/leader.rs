//! Who leads a single-active group, as an outsider sees it: read from the lease in
//! `election_{service}`, without joining the election (operators, `aegis leader`).

use std::time::{Duration, SystemTime};

use futures::{Stream, StreamExt};
use serde::Serialize;

use crate::backend::Backend;
use crate::domain::instance::parse_timestamp;
use crate::domain::lease::Lease;
use crate::domain::subject::election_bucket;
use crate::ports::{KvEntry, KvOperation, KvStore};
use crate::{Error, Result};

/// The leader of one group, from its lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leader {
    /// The service.
    pub service: String,
    /// The single-active group.
    pub group: String,
    /// The leading instance.
    pub instance_id: String,
    /// The fencing token of this leadership (the same across renewals, larger for every
    /// later leader).
    pub token: u64,
    /// When the lease was acquired (ISO 8601, as stored).
    pub acquired_at: String,
    /// The lease's KV revision now (moves with every renewal).
    pub revision: u64,
}

impl Leader {
    fn from_entry(service: &str, entry: &KvEntry) -> Option<Self> {
        if entry.operation != KvOperation::Put {
            return None;
        }
        let lease: Lease = serde_json::from_slice(&entry.value).ok()?;
        Some(Leader {
            service: service.to_owned(),
            group: entry.key.clone(),
            token: lease.token_at_revision(entry.revision),
            instance_id: lease.instance_id,
            acquired_at: lease.acquired_at,
            revision: entry.revision,
        })
    }

    /// How long this leader has held the lease at `now` (`None` if `acquired_at` does not
    /// parse).
    pub fn held_for(&self, now: SystemTime) -> Option<Duration> {
        let acquired = parse_timestamp(&self.acquired_at)?;
        Some(now.duration_since(acquired).unwrap_or_default())
    }

    /// The same leadership: same instance and token (renewals do not change it).
    fn same_term(&self, other: &Leader) -> bool {
        self.instance_id == other.instance_id && self.token == other.token
    }
}

/// The leader of `service`'s `group`, or `None` when nobody holds the lease (or the service
/// has never run an election here). Creates nothing.
pub async fn leader(backend: &Backend, service: &str, group: &str) -> Result<Option<Leader>> {
    let Some(bucket) = election_store(backend, service).await? else {
        return Ok(None);
    };
    let entry = bucket.get(group).await?;
    Ok(entry.and_then(|entry| Leader::from_entry(service, &entry)))
}

/// The leaders of every group of `service` that has one, sorted by group.
pub async fn leaders(backend: &Backend, service: &str) -> Result<Vec<Leader>> {
    let Some(bucket) = election_store(backend, service).await? else {
        return Ok(Vec::new());
    };
    let entries = bucket.entries(">").await?;
    Ok(entries
        .iter()
        .filter_map(|entry| Leader::from_entry(service, entry))
        .collect())
}

/// The leader of `service`'s `group` now, then each change of leadership as it happens:
/// `Some` for a new leader (a new instance or token), `None` when the lease is released or
/// expires. Renewals are not changes. Ends with an error if the watch breaks.
///
/// A service that has never run an election here is an [`Error::Invalid`]: there is nothing
/// to watch (creating its bucket would give it settings its owner did not choose).
pub async fn watch_leader(
    backend: &Backend,
    service: &str,
    group: &str,
) -> Result<impl Stream<Item = Result<Option<Leader>>> + Send + 'static> {
    let bucket = election_store(backend, service).await?.ok_or_else(|| {
        Error::invalid(
            "service",
            format!("`{service}` has no election bucket: no single-active instance has run"),
        )
    })?;
    // Watch first, then read: a change between the two is seen twice, never missed.
    let watch = bucket.watch(group).await?;
    let current = bucket.get(group).await?;
    let service = service.to_owned();
    let first = current.and_then(|entry| Leader::from_entry(&service, &entry));
    let changes = watch.map(move |entry| entry.map(|entry| Leader::from_entry(&service, &entry)));
    let mut last: Option<Option<Leader>> = None;
    let all = futures::stream::once(async move { Ok(first) }).chain(changes);
    Ok(all.filter_map(move |item| {
        let news = match &item {
            Ok(now) => match (&last, now) {
                (Some(Some(before)), Some(now)) => !before.same_term(now),
                (Some(None), None) => false,
                _ => true,
            },
            Err(_) => true,
        };
        if let Ok(now) = &item {
            last = Some(now.clone());
        }
        futures::future::ready(news.then_some(item))
    }))
}

async fn election_store(
    backend: &Backend,
    service: &str,
) -> Result<Option<std::sync::Arc<dyn KvStore>>> {
    backend
        .kv()
        .existing_bucket(&election_bucket(service))
        .await
}
