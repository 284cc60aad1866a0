//! Leader election for single-active groups, on the KV port.
//!
//! One key per group in bucket `election_{service}`, whose `max_age` is the lease TTL.
//! - Acquire only with `create`; renew only with `update` on our own last revision; release
//!   on graceful stop with a revision-checked delete.
//! - The value carries instance id and a nonce drawn afresh for every campaign, so a create
//!   whose reply was lost is recognised as this campaign's: written after it was sent, so the
//!   lease runs from then. A lease of ours from an earlier campaign is treated as anyone
//!   else's: left to expire, never revived. Reviving it raced the server's expiry: on a
//!   3-node cluster the new stream leader removed the old value and placed its delete marker
//!   after the revival had been acknowledged, and a second instance then acquired over the
//!   marker while the first still held its "renewed" lease.
//! - The leader fences itself on its monotonic clock: exclusive work stops at
//!   (send time of the last successful renew) + TTL − margin, whether or not a reply came.
//!   The server expires the key no earlier than TTL after it wrote it, which is after we sent.
//! - Candidates poll `create` with jitter; the KV watch is a hint that makes them try at
//!   once: a delete on graceful release, and a purge when `max_age` expires a crashed
//!   leader's lease (the bucket asks for expiry announcements: nats-server 2.11 and later
//!   place a delete marker; older servers say nothing, and the poll remains).
//! - The fencing token is the revision at which the lease was acquired: it stays the same
//!   across renewals and grows with every new leadership (revisions are bucket-wide).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::watch;

use crate::backend::Backend;
use crate::domain::envelope::format_timestamp;
use crate::domain::lease::Lease;
use crate::ports::{BucketConfig, Clock, KvBuckets, KvOperation, KvStore, KvWatch, Metrics};
use crate::{Error, InstanceId, Result};

/// Settings of a single-active group (the Python AegisSDK's `group_id`, `leader_ttl_seconds`).
#[derive(Debug, Clone, PartialEq)]
pub struct ElectionConfig {
    /// The group: one leader per service and group.
    pub group_id: String,
    /// Lease duration: a crashed leader is replaced about this long after its last renew.
    pub leader_ttl: Duration,
    /// How often the leader renews (default: a third of the TTL).
    pub renew_interval: Duration,
    /// How long before the lease's end the leader stops itself (default: a tenth of the TTL,
    /// at most 1 s), for clock-rate differences and the time a renew takes to land.
    pub margin: Duration,
    /// How often candidates try to acquire (default: a quarter of the TTL, at most 1 s),
    /// with ±20 % jitter.
    pub poll_interval: Duration,
}

impl ElectionConfig {
    /// Group `group_id` with a lease of `leader_ttl` and the derived defaults.
    pub fn new(group_id: impl Into<String>, leader_ttl: Duration) -> Self {
        ElectionConfig {
            group_id: group_id.into(),
            leader_ttl,
            renew_interval: leader_ttl / 3,
            margin: (leader_ttl / 10).min(Duration::from_secs(1)),
            poll_interval: (leader_ttl / 4).min(Duration::from_secs(1)),
        }
    }

    /// Checks the timing invariants.
    pub fn validate(&self) -> Result<()> {
        let invalid = |message: String| Err(Error::invalid("election config", message));
        if self.group_id.is_empty()
            || !self
                .group_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return invalid(format!(
                "group_id `{}` must be letters, digits, `_` and `-`",
                self.group_id
            ));
        }
        if self.leader_ttl < Duration::from_millis(500) {
            return invalid(format!(
                "leader_ttl ({:?}) must be at least 500 ms",
                self.leader_ttl
            ));
        }
        if self.renew_interval.is_zero() || self.renew_interval * 2 > self.leader_ttl - self.margin
        {
            return invalid(format!(
                "renew_interval ({:?}) must be positive and at most half of leader_ttl − margin \
                 ({:?}), so that one lost renew does not end the lease",
                self.renew_interval,
                self.leader_ttl - self.margin
            ));
        }
        if self.margin >= self.leader_ttl / 2 {
            return invalid(format!(
                "margin ({:?}) must be under half of leader_ttl",
                self.margin
            ));
        }
        Ok(())
    }
}

impl Default for ElectionConfig {
    /// Group `default`, 10 s lease.
    fn default() -> Self {
        Self::new("default", Duration::from_secs(10))
    }
}

/// Where an instance is in the election (the Python AegisSDK's state machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElectionState {
    /// Another instance leads (or nobody, and we are waiting to try).
    Standby,
    /// Trying to acquire the lease.
    Electing,
    /// Holding the lease: exclusive methods run here.
    Active,
}

impl fmt::Display for ElectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ElectionState::Standby => "STANDBY",
            ElectionState::Electing => "ELECTING",
            ElectionState::Active => "ACTIVE",
        })
    }
}

/// What an instance knows about its group's leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    /// Our state.
    pub state: ElectionState,
    /// The leader's instance id, when known.
    pub leader: Option<String>,
    /// While active: the fencing token, the KV revision at which this leadership began (the
    /// same across renewals; every later leadership has a larger one).
    pub token: Option<u64>,
    /// While active: when we stop ourselves unless a renew succeeds first.
    pub deadline: Option<Instant>,
}

impl Leadership {
    fn standby(leader: Option<String>) -> Self {
        Leadership {
            state: ElectionState::Standby,
            leader,
            token: None,
            deadline: None,
        }
    }

    /// The fencing token, if the lease is still ours at `now`.
    pub fn token_at(&self, now: Instant) -> Option<u64> {
        match (self.state, self.deadline) {
            (ElectionState::Active, Some(deadline)) if now < deadline => self.token,
            _ => None,
        }
    }
}

/// One campaign's lease value, and its nonce.
struct Claim {
    lease: Lease,
    value: Bytes,
}

impl Claim {
    fn new(instance_id: &str, clock: &dyn Clock) -> Self {
        let lease = Lease {
            instance_id: instance_id.to_owned(),
            nonce: crate::domain::envelope::new_id(),
            acquired_at: format_timestamp(clock.system_time()),
            token: None,
        };
        Claim::of(lease)
    }

    fn of(lease: Lease) -> Self {
        let value = serde_json::to_vec(&lease).expect("a lease serializes");
        Claim {
            lease,
            value: value.into(),
        }
    }

    /// The same claim, saying its fencing token: renewals write it for readers
    /// (`aegis::election::leader`), to whom the entry's revision no longer tells it.
    fn with_token(&self, token: u64) -> Self {
        Claim::of(Lease {
            token: Some(token),
            ..self.lease.clone()
        })
    }
}

pub use crate::domain::subject::election_bucket;
pub use crate::leader::{Leader, leader, leaders, watch_leader};

/// One instance's participation in one group's election.
pub(crate) struct Election {
    /// The lease's current revision while we hold it (renewals and the release use it).
    revision: AtomicU64,
    /// The last campaign got no answer from the bucket.
    unreachable: AtomicBool,
    kv: Arc<dyn KvStore>,
    key: String,
    instance_id: String,
    /// The value written by the current campaign and its renewals.
    claim: std::sync::Mutex<Claim>,
    config: ElectionConfig,
    clock: Arc<dyn Clock>,
    metrics: Arc<dyn Metrics>,
    /// The `service` label of the election's metrics.
    service: String,
    state: watch::Sender<Leadership>,
}

impl Election {
    pub(crate) async fn join(
        buckets: &dyn KvBuckets,
        service: &str,
        instance_id: &str,
        config: ElectionConfig,
        clock: Arc<dyn Clock>,
        metrics: Arc<dyn Metrics>,
    ) -> Result<Self> {
        config.validate()?;
        let bucket = BucketConfig::new(election_bucket(service))
            .max_age(config.leader_ttl)
            .announce_expiry();
        let kv = buckets.open_bucket(bucket).await?;
        let claim = Claim::new(instance_id, clock.as_ref());
        let election = Election {
            revision: AtomicU64::new(0),
            unreachable: AtomicBool::new(false),
            kv,
            key: config.group_id.clone(),
            instance_id: instance_id.to_owned(),
            claim: std::sync::Mutex::new(claim),
            config,
            clock,
            metrics,
            service: service.to_owned(),
            state: watch::channel(Leadership::standby(None)).0,
        };
        // A standby until elected: the gauge is there from the start.
        election.record_leading(false);
        Ok(election)
    }

    /// Sets the is-leader gauge of this instance's group.
    fn record_leading(&self, leading: bool) {
        let labels = [
            ("service", self.service.as_str()),
            ("group", self.config.group_id.as_str()),
        ];
        let value = if leading { 1.0 } else { 0.0 };
        self.metrics
            .gauge("aegis_election_is_leader", &labels, value);
    }

    pub(crate) fn leadership(&self) -> watch::Receiver<Leadership> {
        self.state.subscribe()
    }

    pub(crate) fn current(&self) -> Leadership {
        self.state.borrow().clone()
    }

    fn set(&self, next: Leadership) {
        let previous = self.state.send_replace(next.clone());
        if previous.state != next.state {
            tracing::info!(
                group = %self.config.group_id,
                instance = %self.instance_id,
                from = %previous.state,
                to = %next.state,
                token = ?next.token,
                "election"
            );
            let state = match next.state {
                ElectionState::Standby => "standby",
                ElectionState::Electing => "electing",
                ElectionState::Active => "active",
            };
            let labels = [
                ("service", self.service.as_str()),
                ("group", self.config.group_id.as_str()),
                ("state", state),
            ];
            self.metrics
                .increment("aegis_election_transitions_total", &labels, 1);
            self.record_leading(next.state == ElectionState::Active);
        }
    }

    /// The wait before the next campaign: the poll interval, or a fifth of it while the
    /// bucket does not answer, so that its return (a new stream leader after a node died)
    /// is noticed at once. Jittered, so that candidates do not move in step.
    fn next_campaign_in(&self) -> Duration {
        let interval = if self.unreachable.load(Ordering::Relaxed) {
            self.config.poll_interval / 5
        } else {
            self.config.poll_interval
        };
        interval.mul_f64(0.8 + 0.4 * rand::random::<f64>())
    }

    fn claim(&self) -> std::sync::MutexGuard<'_, Claim> {
        self.claim
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The lease as stored: (revision, holder, written by the current campaign?).
    async fn read(&self) -> Option<(u64, String, bool)> {
        let entry = self.kv.get(&self.key).await.ok()??;
        let lease: Lease = serde_json::from_slice(&entry.value).ok()?;
        let ours = lease.nonce == self.claim().lease.nonce;
        Some((entry.revision, lease.instance_id, ours))
    }

    /// `request`, given up after one poll interval.
    async fn bounded<T>(&self, request: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            output = request => Some(output),
            () = self.clock.sleep(self.config.poll_interval) => None,
        }
    }

    fn active(&self, token: u64, sent: Instant) -> Leadership {
        Leadership {
            state: ElectionState::Active,
            leader: Some(self.instance_id.clone()),
            token: Some(token),
            deadline: Some(self.deadline_after(sent)),
        }
    }

    fn deadline_after(&self, sent: Instant) -> Instant {
        sent + self.config.leader_ttl - self.config.margin
    }

    /// One attempt to become leader: the new state (and, when active, the lease's revision
    /// is in `self.revision`).
    async fn campaign(&self) -> Leadership {
        self.set(Leadership {
            state: ElectionState::Electing,
            ..self.current()
        });
        let value = {
            let mut claim = self.claim();
            *claim = Claim::new(&self.instance_id, self.clock.as_ref());
            claim.value.clone()
        };
        let sent = self.clock.now();
        match self.bounded(self.kv.create(&self.key, value)).await {
            Some(Ok(revision)) => {
                self.revision.store(revision, Ordering::SeqCst);
                return self.active(revision, sent);
            }
            Some(Err(Error::Conflict { .. })) => self.unreachable.store(false, Ordering::Relaxed),
            // No answer from the bucket's stream (a replicated stream without a leader
            // answers 503 at once): keep trying often, for it will return.
            Some(Err(error)) => {
                tracing::debug!(%error, "create failed; reading the lease");
                self.unreachable.store(true, Ordering::Relaxed);
            }
            // Unanswered (the bucket's stream is electing a leader, say): try again soon
            // rather than wait out the request timeout. If it was written after all, the
            // next campaign (with a new nonce) takes it for anyone's and lets it expire.
            None => {
                self.unreachable.store(true, Ordering::Relaxed);
                return Leadership::standby(None);
            }
        }
        let stored = self.bounded(self.read()).await;
        // No answer, or an error read as `None`: the bucket may be between stream leaders.
        if stored.as_ref().is_none_or(Option::is_none) {
            self.unreachable.store(true, Ordering::Relaxed);
        }
        match stored.flatten() {
            // This campaign's create, whose reply we missed: written after `sent`.
            Some((revision, _, true)) => {
                self.revision.store(revision, Ordering::SeqCst);
                self.active(revision, sent)
            }
            Some((_, holder, false)) => Leadership::standby(Some(holder)),
            None => Leadership::standby(None),
        }
    }

    /// Renews until the lease is lost, the local deadline passes, or `stop` fires. The token
    /// stays that of the acquisition; only the deadline (and the revision to update) move.
    async fn hold(&self, mut lease: Leadership, stop: &mut watch::Receiver<bool>) -> Leadership {
        if let Some(token) = lease.token {
            let mut claim = self.claim();
            *claim = claim.with_token(token);
        }
        loop {
            self.set(lease.clone());
            let Some(deadline) = lease.deadline else {
                return lease;
            };
            let until_deadline = deadline.saturating_duration_since(self.clock.now());
            let renew_at = self.config.renew_interval.min(until_deadline);
            tokio::select! {
                () = self.clock.sleep(renew_at) => {}
                _ = stop.wait_for(|s| *s) => return lease,
            }
            let sent = self.clock.now();
            let until_deadline = deadline.saturating_duration_since(sent);
            let revision = self.revision.load(Ordering::SeqCst);
            let value = self.claim().value.clone();
            let renewed = tokio::select! {
                result = self.kv.update(&self.key, value, revision) => Some(result),
                () = self.clock.sleep(until_deadline) => None,
            };
            match renewed {
                Some(Ok(revision)) => {
                    self.revision.store(revision, Ordering::SeqCst);
                    lease.deadline = Some(self.deadline_after(sent));
                }
                Some(Err(Error::Conflict { .. })) => {
                    tracing::warn!(group = %self.config.group_id, "lease taken over: stepping down");
                    return Leadership::standby(None);
                }
                Some(Err(error)) => {
                    // Ambiguous: maybe written. Adopt the stored revision if the value is ours;
                    // the deadline stays where it was.
                    tracing::warn!(%error, "renew failed");
                    if let Some((current, _, true)) = self.read().await {
                        self.revision.store(current, Ordering::SeqCst);
                    }
                }
                None => {}
            }
            if self.clock.now() >= deadline && lease.deadline == Some(deadline) {
                tracing::warn!(group = %self.config.group_id, "lease deadline passed without a renew: stepping down");
                return Leadership::standby(None);
            }
        }
    }

    /// Campaigns and holds until `stop` fires; then releases the lease if held.
    pub(crate) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut hints: Option<KvWatch> = self.kv.watch(&self.key).await.ok();
        loop {
            if *stop.borrow() {
                break;
            }
            let lease = self.campaign().await;
            if lease.state == ElectionState::Active {
                let after = self.hold(lease, &mut stop).await;
                self.set(after);
                continue;
            }
            self.set(lease);
            // Wait: the poll interval, or a hint that the lease was released.
            let poll = self.next_campaign_in();
            tokio::select! {
                () = self.clock.sleep(poll) => {}
                _ = stop.wait_for(|s| *s) => break,
                released = next_release(&mut hints) => {
                    if !released {
                        hints = None;
                    }
                }
            }
        }
        self.release().await;
    }

    /// Gives the lease up, if held: fenced first, then a delete on our own revision (which
    /// cannot remove a successor's lease).
    pub(crate) async fn release(&self) {
        let lease = self.current();
        self.set(Leadership::standby(None));
        if lease.state == ElectionState::Active {
            let revision = self.revision.load(Ordering::SeqCst);
            match self.kv.delete(&self.key, Some(revision)).await {
                Ok(()) => tracing::info!(group = %self.config.group_id, "leadership released"),
                Err(error) => {
                    tracing::warn!(%error, "could not release the lease; it expires after its TTL")
                }
            }
        }
    }
}

/// Waits for a delete/purge of the lease on the hint watch; `false` when the watch is gone.
async fn next_release(hints: &mut Option<KvWatch>) -> bool {
    let Some(watch) = hints.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match watch.next().await {
            Some(Ok(entry)) if entry.operation != KvOperation::Put => return true,
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return false,
        }
    }
}

/// The lease an exclusive handler runs under: valid while this instance is active with the
/// same token and before its local deadline.
#[derive(Clone)]
pub(crate) struct LeaseCheck {
    pub(crate) leadership: watch::Receiver<Leadership>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) token: u64,
}

impl fmt::Debug for LeaseCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseCheck")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl LeaseCheck {
    /// When the lease ends if not renewed, or `None` if it is no longer ours.
    pub(crate) fn valid_until(&self) -> Option<Instant> {
        let leadership = self.leadership.borrow();
        let now = self.clock.now();
        (leadership.token_at(now) == Some(self.token))
            .then_some(leadership.deadline)
            .flatten()
    }

    pub(crate) fn valid(&self) -> bool {
        self.valid_until().is_some()
    }
}

/// What the RPC server, the heartbeat and the service handle see of the election.
pub(crate) struct ElectionView {
    pub(crate) leadership: watch::Receiver<Leadership>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) group: String,
}

impl ElectionView {
    /// The lease to run an exclusive handler under, if this instance holds one now.
    pub(crate) fn lease(&self) -> Option<LeaseCheck> {
        let token = self.leadership.borrow().token_at(self.clock.now())?;
        Some(LeaseCheck {
            leadership: self.leadership.clone(),
            clock: Arc::clone(&self.clock),
            token,
        })
    }

    pub(crate) fn not_active_message(&self, instance_id: &InstanceId) -> String {
        let leadership = self.leadership.borrow();
        let leader = leadership.leader.as_deref().unwrap_or("unknown");
        format!(
            "This instance is not active. Instance {instance_id} is in {} mode (group `{}`, leader {leader}).",
            ElectionState::Standby,
            self.group
        )
    }
}

/// The election of one instance, running in the background.
pub(crate) struct ElectionTask {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ElectionTask {
    /// Joins the election of `service`'s group on `backend` and runs it in the background.
    pub(crate) async fn start(
        backend: &Backend,
        service: &'static str,
        instance_id: &InstanceId,
        config: &ElectionConfig,
    ) -> Result<(ElectionView, ElectionTask)> {
        if let Some(server) = backend.bus().server_info()
            && !server.cas_is_safe()
        {
            return Err(Error::invalid(
                "server",
                format!(
                    "nats-server {} in a cluster: KV compare-and-set is not safe on \
                     replicated buckets before 2.11, so leader election could elect two \
                     leaders; use nats-server 2.11 or later",
                    server.version
                ),
            ));
        }
        let election = Election::join(
            backend.kv().as_ref(),
            service,
            instance_id.as_str(),
            config.clone(),
            Arc::clone(backend.clock()),
            Arc::clone(backend.metrics()),
        )
        .await?;
        let election = Arc::new(election);
        let view = ElectionView {
            leadership: election.leadership(),
            clock: Arc::clone(backend.clock()),
            group: config.group_id.clone(),
        };
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(Arc::clone(&election).run(stopped));
        Ok((view, ElectionTask { stop, task }))
    }

    /// Stops campaigning and hands the lease over (if held).
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{InMemoryMetrics, ManualClock, MemoryKvBuckets};
    use crate::ports::{BoxFuture, KvEntry};

    const TTL: Duration = Duration::from_secs(2);

    async fn join(buckets: &dyn KvBuckets, clock: &ManualClock) -> Election {
        Election::join(
            buckets,
            "svc",
            "a",
            ElectionConfig::new("default", TTL),
            Arc::new(clock.clone()),
            Arc::new(InMemoryMetrics::new()),
        )
        .await
        .expect("joins")
    }

    #[tokio::test]
    async fn the_leader_gauge_and_transitions_follow_the_state() {
        let clock = ManualClock::new();
        let buckets = MemoryKvBuckets::new(Arc::new(clock.clone()));
        let metrics = Arc::new(InMemoryMetrics::new());
        let election = Election::join(
            &buckets,
            "svc",
            "a",
            ElectionConfig::new("blue", TTL),
            Arc::new(clock.clone()),
            metrics.clone(),
        )
        .await
        .expect("joins");
        let group = [("service", "svc"), ("group", "blue")];
        let leader = || metrics.gauge_value("aegis_election_is_leader", &group);
        assert_eq!(leader(), Some(0.0), "a standby from the start");

        election.set(election.active(1, Instant::now()));
        assert_eq!(leader(), Some(1.0));
        election.set(Leadership::standby(Some("b".into())));
        election.set(Leadership::standby(None));
        assert_eq!(leader(), Some(0.0));
        let entered = |state| {
            let labels = [("service", "svc"), ("group", "blue"), ("state", state)];
            metrics.counter("aegis_election_transitions_total", &labels)
        };
        assert_eq!(
            (entered("active"), entered("standby")),
            (1, 1),
            "changes only"
        );
    }

    async fn stored_revision(election: &Election) -> Option<u64> {
        let entry = election.kv.get(&election.key).await.expect("reads");
        entry.map(|e| e.revision)
    }

    /// The instance stepped down (its deadline passed without a renew reply) but its lease
    /// is still stored: it waits for the lease to expire like any other candidate.
    #[tokio::test]
    async fn a_lease_of_ours_from_an_earlier_campaign_is_left_to_expire() {
        let clock = ManualClock::new();
        let buckets = MemoryKvBuckets::new(Arc::new(clock.clone()));
        let election = join(&buckets, &clock).await;
        let first = election.campaign().await;
        assert_eq!(first.state, ElectionState::Active);
        let held = stored_revision(&election).await;

        let again = election.campaign().await;
        assert_eq!(again.state, ElectionState::Standby);
        assert_eq!(again.leader.as_deref(), Some("a"));
        assert_eq!(stored_revision(&election).await, held, "not revived");

        clock.advance(TTL + Duration::from_millis(1));
        let after_expiry = election.campaign().await;
        assert_eq!(after_expiry.state, ElectionState::Active);
        assert!(after_expiry.token > first.token);
    }

    /// A create that was written but whose reply was lost is found by the read that
    /// follows, recognised as this campaign's, and held from the campaign's send time.
    #[tokio::test]
    async fn this_campaigns_create_whose_reply_was_lost_is_held() {
        let clock = ManualClock::new();
        let buckets = LosesCreateReplies(MemoryKvBuckets::new(Arc::new(clock.clone())));
        let election = join(&buckets, &clock).await;
        let sent = clock.now();
        let lease = election.campaign().await;
        assert_eq!(lease.state, ElectionState::Active);
        assert_eq!(lease.token, stored_revision(&election).await);
        assert_eq!(lease.deadline, Some(sent + TTL - election.config.margin));
    }

    /// Buckets whose `create` writes, then reports a transport error.
    struct LosesCreateReplies(MemoryKvBuckets);

    impl KvBuckets for LosesCreateReplies {
        fn open_bucket(&self, config: BucketConfig) -> BoxFuture<'_, Result<Arc<dyn KvStore>>> {
            Box::pin(async move {
                let inner = self.0.open_bucket(config).await?;
                Ok(Arc::new(LostReply(inner)) as Arc<dyn KvStore>)
            })
        }

        fn existing_bucket<'a>(
            &'a self,
            name: &'a str,
        ) -> BoxFuture<'a, Result<Option<Arc<dyn KvStore>>>> {
            self.0.existing_bucket(name)
        }
    }

    struct LostReply(Arc<dyn KvStore>);

    impl KvStore for LostReply {
        fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<KvEntry>>> {
            self.0.get(key)
        }
        fn put<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<u64>> {
            self.0.put(key, value)
        }
        fn create<'a>(&'a self, key: &'a str, value: Bytes) -> BoxFuture<'a, Result<u64>> {
            Box::pin(async move {
                self.0.create(key, value).await?;
                Err(Error::Transport("reply lost".into()))
            })
        }
        fn update<'a>(
            &'a self,
            key: &'a str,
            value: Bytes,
            revision: u64,
        ) -> BoxFuture<'a, Result<u64>> {
            self.0.update(key, value, revision)
        }
        fn delete<'a>(&'a self, key: &'a str, revision: Option<u64>) -> BoxFuture<'a, Result<()>> {
            self.0.delete(key, revision)
        }
        fn keys(&self) -> BoxFuture<'_, Result<Vec<String>>> {
            self.0.keys()
        }
        fn entries<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Vec<KvEntry>>> {
            self.0.entries(pattern)
        }
        fn watch<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<KvWatch>> {
            self.0.watch(pattern)
        }
    }
}
