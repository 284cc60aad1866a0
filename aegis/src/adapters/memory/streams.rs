//! In-memory persistent streams with JetStream semantics, timed by the injected clock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant, SystemTime};

use futures::Stream;
use tokio::sync::Notify;

use crate::domain::subject::{subject_matches, subjects_collide, validate_subject};
use crate::ports::{
    AckKind, Acker, BoxFuture, Clock, ConsumerConfig, Deliveries, Delivery, DeliveryInfo,
    DeliverySource, MSG_ID_HEADER, Message, PendingAck, PubAck, Retention, StartAt, StoredMessage,
    StreamConfig, Streams, SystemClock,
};
use crate::{Error, Result};

/// What nats-server uses for settings left at zero.
const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_ACK_PENDING: usize = 1000;

/// Streams and durable consumers inside one process, with the semantics of NATS JetStream:
/// subject capture, limits or work-queue retention, deduplication by [`MSG_ID_HEADER`],
/// consumers shared by their bindings, redelivery after `ack_wait` or a nak delay.
///
/// Every timer (ack wait, nak delay, duplicate window, inactive threshold) follows the
/// clock, so a [`ManualClock`](super::ManualClock) makes them deterministic. Cheap to clone;
/// clones share the streams.
///
/// Where NATS leaves room, this adapter decides:
/// - a work-queue stream that is full refuses a publish (NATS "discard new"): a command is
///   never evicted;
/// - a consumer's filter cannot change once it exists;
/// - settling a delivery that is no longer pending (settled, or evicted) does nothing; an
///   `Ack` or `Term` counts whichever delivery of the message it comes from (as on NATS),
///   while a `Nak` or `Progress` from a delivery since redelivered does nothing (it would
///   disturb the binding that holds the message now);
/// - settling for a consumer that was deleted fails with [`Error::Closed`], and the
///   bindings of a deleted consumer end.
#[derive(Clone)]
pub struct MemoryStreams {
    shared: Arc<Shared>,
}

impl fmt::Debug for MemoryStreams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state();
        let mut names: Vec<&String> = state.streams.keys().collect();
        names.sort();
        f.debug_struct("MemoryStreams")
            .field("streams", &names)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStreams {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl MemoryStreams {
    /// No streams yet; every timer follows `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryStreams {
            shared: Arc::new(Shared {
                clock,
                state: Mutex::default(),
            }),
        }
    }
}

struct Shared {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    streams: HashMap<String, StreamState>,
    /// Tells a consumer from a later one of the same name, for ackers and bindings.
    generations: u64,
}

struct StreamState {
    config: StreamConfig,
    last_sequence: u64,
    messages: BTreeMap<u64, Stored>,
    /// Message ids inside the duplicate window, with the sequence they were stored at.
    msg_ids: HashMap<String, u64>,
    /// The same ids, oldest first, to forget them when the window passes.
    msg_id_times: VecDeque<(Instant, String)>,
    consumers: HashMap<String, Consumer>,
}

struct Stored {
    message: Message,
    published: SystemTime,
}

struct Consumer {
    generation: u64,
    filter: String,
    ack_wait: Duration,
    max_ack_pending: usize,
    inactive_threshold: Option<Duration>,
    /// The next stream sequence never delivered to this consumer.
    next_sequence: u64,
    /// Deliveries awaiting a settle, by stream sequence.
    pending: BTreeMap<u64, Pending>,
    bindings: usize,
    unbound_since: Instant,
    /// Wakes the bindings when something may be deliverable (or the consumer is gone).
    notify: Arc<Notify>,
}

struct Pending {
    delivered: u64,
    /// When it may be delivered again.
    due: Instant,
}

/// Which consumer a binding or an acker belongs to.
#[derive(Clone)]
struct ConsumerKey {
    stream: String,
    name: String,
    generation: u64,
}

/// What a binding's attempt to take a message found.
enum Take {
    Delivery(Delivery),
    /// Nothing yet; something falls due after this long (if anything is pending).
    Wait(Option<Duration>),
    /// The consumer was deleted.
    Gone,
}

/// `now + duration`, saturating far in the future instead of overflowing.
fn later(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(u64::from(u32::MAX)))
}

/// NATS's rule for stream and durable names: no whitespace, `.`, `*`, `>` or path separators.
fn validate_name(what: &'static str, name: &str) -> Result<()> {
    let bad = |c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\');
    if name.is_empty() || name.contains(bad) {
        return Err(Error::invalid(
            what,
            format!("`{name}` must be non-empty, without whitespace, `.`, `*`, `>`, `/` or `\\`"),
        ));
    }
    Ok(())
}

fn no_stream(name: &str) -> Error {
    Error::invalid("stream", format!("no stream `{name}`"))
}

fn consumer_gone(key: &ConsumerKey) -> Error {
    Error::Closed(format!(
        "consumer `{}` of stream `{}` no longer exists",
        key.name, key.stream
    ))
}

impl StreamState {
    fn new(mut config: StreamConfig) -> Self {
        if config.duplicate_window.is_zero() {
            config.duplicate_window = DEFAULT_DUPLICATE_WINDOW;
        }
        StreamState {
            config,
            last_sequence: 0,
            messages: BTreeMap::new(),
            msg_ids: HashMap::new(),
            msg_id_times: VecDeque::new(),
            consumers: HashMap::new(),
        }
    }

    fn captures(&self, subject: &str) -> bool {
        self.config
            .subjects
            .iter()
            .any(|pattern| subject_matches(pattern, subject))
    }

    /// Deletes consumers that have had no binding for their inactive threshold, as the
    /// server does (checked lazily, whenever the stream is used).
    fn expire_consumers(&mut self, now: Instant) {
        self.consumers.retain(|_, consumer| {
            let expired = consumer.bindings == 0
                && consumer.inactive_threshold.is_some_and(|threshold| {
                    now.duration_since(consumer.unbound_since) >= threshold
                });
            !expired
        });
    }

    fn forget_msg_ids(&mut self, now: Instant) {
        while let Some((stored, _)) = self.msg_id_times.front() {
            if now.duration_since(*stored) < self.config.duplicate_window {
                break;
            }
            if let Some((_, id)) = self.msg_id_times.pop_front() {
                self.msg_ids.remove(&id);
            }
        }
    }

    /// Removes a message, and with it any pending delivery of it (freeing the slot).
    fn evict(&mut self, sequence: u64) {
        self.messages.remove(&sequence);
        for consumer in self.consumers.values_mut() {
            if consumer.pending.remove(&sequence).is_some() {
                consumer.notify.notify_waiters();
            }
        }
    }

    fn store(
        &mut self,
        mut message: Message,
        now: Instant,
        published: SystemTime,
    ) -> Result<PubAck> {
        self.forget_msg_ids(now);
        let msg_id = message
            .headers
            .get(MSG_ID_HEADER)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        if let Some(&sequence) = msg_id.as_ref().and_then(|id| self.msg_ids.get(id)) {
            return Ok(PubAck {
                stream: self.config.name.clone(),
                sequence,
                duplicate: true,
            });
        }
        let max_msgs = usize::try_from(self.config.max_msgs)
            .ok()
            .filter(|&m| m > 0);
        let full = max_msgs.is_some_and(|max| self.messages.len() >= max);
        if full && self.config.retention == Retention::WorkQueue {
            return Err(Error::Transport(format!(
                "stream `{}` is full: maximum messages exceeded",
                self.config.name
            )));
        }
        self.last_sequence += 1;
        let sequence = self.last_sequence;
        message.reply = None;
        for consumer in self.consumers.values() {
            if subject_matches(&consumer.filter, &message.subject) {
                consumer.notify.notify_waiters();
            }
        }
        self.messages
            .insert(sequence, Stored { message, published });
        if let Some(id) = msg_id {
            self.msg_ids.insert(id.clone(), sequence);
            self.msg_id_times.push_back((now, id));
        }
        while max_msgs.is_some_and(|max| self.messages.len() > max) {
            if let Some(oldest) = self.messages.keys().next().copied() {
                self.evict(oldest);
            }
        }
        Ok(PubAck {
            stream: self.config.name.clone(),
            sequence,
            duplicate: false,
        })
    }

    fn start_sequence(&self, start: StartAt) -> u64 {
        match start {
            StartAt::New => self.last_sequence + 1,
            StartAt::First => 1,
            StartAt::Sequence(sequence) => sequence.max(1),
            StartAt::Time(time) => self
                .messages
                .iter()
                .find(|(_, stored)| stored.published >= time)
                .map_or(self.last_sequence + 1, |(&sequence, _)| sequence),
        }
    }

    /// A new consumer's checks, as the server makes them on a work queue.
    fn check_new_consumer(&self, config: &ConsumerConfig) -> Result<()> {
        if self.config.retention != Retention::WorkQueue {
            return Ok(());
        }
        if config.start != StartAt::First {
            return Err(Error::invalid(
                "consumer",
                format!(
                    "`{}`: consumer must be deliver all on workqueue stream `{}`",
                    config.name, self.config.name
                ),
            ));
        }
        let overlapping = self
            .consumers
            .iter()
            .find(|(_, other)| subjects_collide(&other.filter, &config.filter_subject));
        if let Some((other, _)) = overlapping {
            return Err(Error::invalid(
                "consumer",
                format!(
                    "`{}`: filtered consumer not unique on workqueue stream `{}` (overlaps `{other}`)",
                    config.name, self.config.name
                ),
            ));
        }
        Ok(())
    }

    fn consumer_mut(&mut self, key: &ConsumerKey) -> Option<&mut Consumer> {
        self.consumers
            .get_mut(&key.name)
            .filter(|consumer| consumer.generation == key.generation)
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent before anything can panic, so a
        // poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn ensure_stream(&self, mut config: StreamConfig) -> Result<()> {
        validate_name("stream name", &config.name)?;
        if config.subjects.is_empty() {
            // As on NATS: a stream without subjects captures its own name.
            config.subjects.push(config.name.clone());
        }
        for subject in &config.subjects {
            validate_subject(subject, true)?;
        }
        let mut state = self.state();
        if state.streams.contains_key(&config.name) {
            return Ok(());
        }
        let overlap = state.streams.values().find(|other| {
            other.config.subjects.iter().any(|theirs| {
                config
                    .subjects
                    .iter()
                    .any(|ours| subjects_collide(ours, theirs))
            })
        });
        if let Some(other) = overlap {
            return Err(Error::invalid(
                "stream subjects",
                format!(
                    "`{}`: subjects overlap with an existing stream (`{}`)",
                    config.name, other.config.name
                ),
            ));
        }
        state
            .streams
            .insert(config.name.clone(), StreamState::new(config));
        Ok(())
    }

    fn publish(&self, message: Message) -> Result<PubAck> {
        message.headers.validate()?;
        let mut state = self.state();
        let now = self.clock.now();
        let Some(stream) = state
            .streams
            .values_mut()
            .find(|stream| stream.captures(&message.subject))
        else {
            // What NATS answers when no stream listens on the subject.
            return Err(Error::NoResponders {
                subject: message.subject,
            });
        };
        stream.expire_consumers(now);
        stream.store(message, now, self.clock.system_time())
    }

    fn bind(self: &Arc<Self>, stream_name: &str, config: ConsumerConfig) -> Result<Binding> {
        validate_name("consumer name", &config.name)?;
        validate_subject(&config.filter_subject, true)?;
        let mut state = self.state();
        let now = self.clock.now();
        let State {
            streams,
            generations,
        } = &mut *state;
        let stream = streams
            .get_mut(stream_name)
            .ok_or_else(|| no_stream(stream_name))?;
        stream.expire_consumers(now);
        let ack_wait = Some(config.ack_wait)
            .filter(|wait| !wait.is_zero())
            .unwrap_or(DEFAULT_ACK_WAIT);
        let max_ack_pending = Some(config.max_ack_pending)
            .filter(|&max| max > 0)
            .unwrap_or(DEFAULT_MAX_ACK_PENDING);
        if let Some(existing) = stream.consumers.get_mut(&config.name) {
            if existing.filter != config.filter_subject {
                return Err(Error::invalid(
                    "consumer",
                    format!(
                        "`{}` filters `{}`; it cannot be bound with filter `{}`",
                        config.name, existing.filter, config.filter_subject
                    ),
                ));
            }
            existing.ack_wait = ack_wait;
            existing.max_ack_pending = max_ack_pending;
            existing.inactive_threshold = config.inactive_threshold;
            existing.bindings += 1;
            // A larger max_ack_pending may let waiting bindings take more.
            existing.notify.notify_waiters();
        } else {
            stream.check_new_consumer(&config)?;
            *generations += 1;
            let consumer = Consumer {
                generation: *generations,
                filter: config.filter_subject,
                ack_wait,
                max_ack_pending,
                inactive_threshold: config.inactive_threshold,
                next_sequence: stream.start_sequence(config.start),
                pending: BTreeMap::new(),
                bindings: 1,
                unbound_since: now,
                notify: Arc::new(Notify::new()),
            };
            stream.consumers.insert(config.name.clone(), consumer);
        }
        let consumer = &stream.consumers[&config.name];
        Ok(Binding {
            shared: Arc::clone(self),
            key: ConsumerKey {
                stream: stream_name.to_owned(),
                name: config.name,
                generation: consumer.generation,
            },
            notify: Arc::clone(&consumer.notify),
            next: None,
            bound: true,
            yield_first: false,
        })
    }

    fn unbind(&self, key: &ConsumerKey) {
        let mut state = self.state();
        let now = self.clock.now();
        let consumer = state
            .streams
            .get_mut(&key.stream)
            .and_then(|stream| stream.consumer_mut(key));
        if let Some(consumer) = consumer {
            consumer.bindings = consumer.bindings.saturating_sub(1);
            if consumer.bindings == 0 {
                consumer.unbound_since = now;
            }
        }
    }

    /// Takes the consumer's next message for a binding: a due redelivery first, else the
    /// next new one if `max_ack_pending` allows.
    fn take(self: &Arc<Self>, key: &ConsumerKey) -> Take {
        let mut state = self.state();
        let now = self.clock.now();
        let Some(stream) = state.streams.get_mut(&key.stream) else {
            return Take::Gone;
        };
        let StreamState {
            messages,
            consumers,
            ..
        } = stream;
        let Some(consumer) = consumers
            .get_mut(&key.name)
            .filter(|consumer| consumer.generation == key.generation)
        else {
            return Take::Gone;
        };
        let due = consumer
            .pending
            .iter()
            .filter(|(_, pending)| pending.due <= now)
            .min_by_key(|&(&sequence, pending)| (pending.due, sequence))
            .map(|(&sequence, _)| sequence);
        if let Some(sequence) = due {
            match (consumer.pending.get_mut(&sequence), messages.get(&sequence)) {
                (Some(pending), Some(stored)) => {
                    pending.delivered += 1;
                    pending.due = later(now, consumer.ack_wait);
                    let delivered = pending.delivered;
                    return Take::Delivery(self.delivery(key, sequence, stored, delivered));
                }
                // Evictions drop pending deliveries too; this only keeps a slip harmless.
                _ => {
                    consumer.pending.remove(&sequence);
                }
            }
        }
        if consumer.pending.len() < consumer.max_ack_pending {
            let next = messages
                .range(consumer.next_sequence..)
                .find(|(_, stored)| subject_matches(&consumer.filter, &stored.message.subject));
            match next {
                Some((&sequence, stored)) => {
                    consumer.next_sequence = sequence + 1;
                    consumer.pending.insert(
                        sequence,
                        Pending {
                            delivered: 1,
                            due: later(now, consumer.ack_wait),
                        },
                    );
                    return Take::Delivery(self.delivery(key, sequence, stored, 1));
                }
                // Nothing held from here on matches: never look at it again.
                None => {
                    let end = messages.keys().next_back().map_or(0, |&last| last + 1);
                    consumer.next_sequence = consumer.next_sequence.max(end);
                }
            }
        }
        let next_due = consumer.pending.values().map(|pending| pending.due).min();
        Take::Wait(next_due.map(|due| due.saturating_duration_since(now)))
    }

    fn delivery(
        self: &Arc<Self>,
        key: &ConsumerKey,
        sequence: u64,
        stored: &Stored,
        delivered: u64,
    ) -> Delivery {
        let info = DeliveryInfo {
            stream_sequence: sequence,
            delivered,
            published: stored.published,
        };
        let acker = MemoryAcker {
            shared: Arc::clone(self),
            key: key.clone(),
            sequence,
            delivered,
        };
        Delivery::new(stored.message.clone(), info, Arc::new(acker))
    }

    fn settle(&self, acker: &MemoryAcker, kind: AckKind) -> Result<()> {
        let mut state = self.state();
        let now = self.clock.now();
        let key = &acker.key;
        let stream = state
            .streams
            .get_mut(&key.stream)
            .ok_or_else(|| consumer_gone(key))?;
        stream.expire_consumers(now);
        let work_queue = stream.config.retention == Retention::WorkQueue;
        let consumer = stream.consumer_mut(key).ok_or_else(|| consumer_gone(key))?;
        let Some(pending) = consumer.pending.get_mut(&acker.sequence) else {
            return Ok(());
        };
        let current = pending.delivered == acker.delivered;
        match kind {
            AckKind::Ack | AckKind::Term => {
                consumer.pending.remove(&acker.sequence);
                consumer.notify.notify_waiters();
                if work_queue {
                    stream.messages.remove(&acker.sequence);
                }
            }
            AckKind::Nak(delay) if current => {
                pending.due = later(now, delay);
                consumer.notify.notify_waiters();
            }
            AckKind::Progress if current => pending.due = later(now, consumer.ack_wait),
            AckKind::Nak(_) | AckKind::Progress => {}
        }
        Ok(())
    }

    fn delete_consumer(&self, stream: &str, name: &str) {
        let mut state = self.state();
        let removed = state
            .streams
            .get_mut(stream)
            .and_then(|stream| stream.consumers.remove(name));
        if let Some(consumer) = removed {
            // Its bindings see it gone and end.
            consumer.notify.notify_waiters();
        }
    }

    fn stream_len(&self, name: &str) -> Result<u64> {
        let state = self.state();
        let stream = state.streams.get(name).ok_or_else(|| no_stream(name))?;
        Ok(stream.messages.len() as u64)
    }

    fn purge_subject(&self, name: &str, subject: &str) -> Result<u64> {
        let mut state = self.state();
        let stream = state.streams.get_mut(name).ok_or_else(|| no_stream(name))?;
        let purged: Vec<u64> = stream
            .messages
            .iter()
            .filter(|(_, stored)| stored.message.subject == subject)
            .map(|(&sequence, _)| sequence)
            .collect();
        for &sequence in &purged {
            stream.evict(sequence);
        }
        Ok(purged.len() as u64)
    }

    fn next_message(&self, name: &str, from: u64, filter: &str) -> Option<StoredMessage> {
        let state = self.state();
        let stream = state.streams.get(name)?;
        stream
            .messages
            .range(from..)
            .find(|(_, stored)| subject_matches(filter, &stored.message.subject))
            .map(|(&sequence, stored)| StoredMessage {
                sequence,
                message: stored.message.clone(),
                published: stored.published,
            })
    }

    fn delete_message(&self, name: &str, sequence: u64) -> bool {
        let mut state = self.state();
        let Some(stream) = state.streams.get_mut(name) else {
            return false;
        };
        let there = stream.messages.contains_key(&sequence);
        stream.evict(sequence);
        there
    }
}

impl Streams for MemoryStreams {
    fn ensure_stream(&self, config: StreamConfig) -> BoxFuture<'_, Result<()>> {
        let result = self.shared.ensure_stream(config);
        Box::pin(async move { result })
    }

    /// Invalid subjects fail here; what the stream says (stored, duplicate, no stream,
    /// full) comes with the already resolved acknowledgement.
    fn publish(&self, message: Message) -> BoxFuture<'_, Result<PendingAck>> {
        let result = validate_subject(&message.subject, false).map(|()| {
            let ack = self.shared.publish(message);
            PendingAck::new(async move { ack })
        });
        Box::pin(async move { result })
    }

    fn consume(&self, stream: &str, config: ConsumerConfig) -> BoxFuture<'_, Result<Deliveries>> {
        let result = self.shared.bind(stream, config).map(Deliveries::new);
        Box::pin(async move { result })
    }

    fn delete_consumer<'a>(&'a self, stream: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>> {
        self.shared.delete_consumer(stream, name);
        Box::pin(async { Ok(()) })
    }

    fn stream_len<'a>(&'a self, stream: &'a str) -> BoxFuture<'a, Result<u64>> {
        let result = self.shared.stream_len(stream);
        Box::pin(async move { result })
    }

    fn purge_subject<'a>(
        &'a self,
        stream: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<u64>> {
        let result = validate_subject(subject, false)
            .and_then(|()| self.shared.purge_subject(stream, subject));
        Box::pin(async move { result })
    }

    fn next_message<'a>(
        &'a self,
        stream: &'a str,
        from: u64,
        filter: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredMessage>>> {
        let result =
            validate_subject(filter, true).map(|()| self.shared.next_message(stream, from, filter));
        Box::pin(async move { result })
    }

    fn delete_message<'a>(&'a self, stream: &'a str, sequence: u64) -> BoxFuture<'a, Result<bool>> {
        let deleted = self.shared.delete_message(stream, sequence);
        Box::pin(async move { Ok(deleted) })
    }
}

/// Settles one delivery; holds the streams, not the binding, so it works after unbinding.
struct MemoryAcker {
    shared: Arc<Shared>,
    key: ConsumerKey,
    sequence: u64,
    delivered: u64,
}

impl Acker for MemoryAcker {
    fn settle(&self, kind: AckKind) -> BoxFuture<'_, Result<()>> {
        let result = self.shared.settle(self, kind);
        Box::pin(async move { result })
    }
}

/// One binding of a consumer. Taking a message and returning it happen in one poll, so
/// dropping a pending `next()` loses nothing.
struct Binding {
    shared: Arc<Shared>,
    key: ConsumerKey,
    notify: Arc<Notify>,
    next: Option<BoxFuture<'static, Option<Delivery>>>,
    bound: bool,
    /// Set after a delivery: the next poll lets other tasks (other bindings) run first, so
    /// that a reader that is always ready does not take every message of a shared consumer.
    yield_first: bool,
}

impl Binding {
    fn unbind(&mut self) {
        self.next = None;
        if std::mem::replace(&mut self.bound, false) {
            self.shared.unbind(&self.key);
        }
    }
}

/// Waits until the binding can take a message (`None`: the consumer is gone).
async fn next_delivery(
    shared: Arc<Shared>,
    key: ConsumerKey,
    notify: Arc<Notify>,
) -> Option<Delivery> {
    loop {
        // Registered before looking, so that a change made after the look wakes us.
        let mut notified = std::pin::pin!(notify.notified());
        notified.as_mut().enable();
        match shared.take(&key) {
            Take::Delivery(delivery) => return Some(delivery),
            Take::Gone => return None,
            Take::Wait(None) => notified.await,
            Take::Wait(Some(due_in)) => {
                futures::future::select(notified, shared.clock.sleep(due_in)).await;
            }
        }
    }
}

impl Stream for Binding {
    type Item = Result<Delivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if !this.bound {
            return Poll::Ready(None);
        }
        if std::mem::take(&mut this.yield_first) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let next = this.next.get_or_insert_with(|| {
            Box::pin(next_delivery(
                Arc::clone(&this.shared),
                this.key.clone(),
                Arc::clone(&this.notify),
            ))
        });
        let delivery = ready!(next.as_mut().poll(cx));
        this.next = None;
        if delivery.is_none() {
            this.unbind();
        }
        this.yield_first = true;
        Poll::Ready(delivery.map(Ok))
    }
}

impl DeliverySource for Binding {
    /// Ends at once: the memory binding holds nothing that was not yet returned.
    fn stop(&mut self) -> BoxFuture<'_, ()> {
        self.unbind();
        Box::pin(async {})
    }
}

impl Drop for Binding {
    fn drop(&mut self) {
        self.unbind();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::adapters::memory::ManualClock;
    use crate::ports::Headers;
    use futures::{FutureExt, StreamExt};

    const ACK_WAIT: Duration = Duration::from_secs(30);

    fn streams() -> (ManualClock, MemoryStreams) {
        let clock = ManualClock::new();
        let streams = MemoryStreams::new(Arc::new(clock.clone()));
        (clock, streams)
    }

    fn stream_config(name: &str, retention: Retention, max_msgs: i64) -> StreamConfig {
        StreamConfig {
            name: name.to_owned(),
            subjects: vec![format!("{}.>", name.to_lowercase())],
            retention,
            max_msgs,
            duplicate_window: Duration::from_secs(60),
        }
    }

    fn consumer(name: &str, filter: &str) -> ConsumerConfig {
        ConsumerConfig {
            fetch_ahead: 64,
            name: name.to_owned(),
            filter_subject: filter.to_owned(),
            start: StartAt::First,
            ack_wait: ACK_WAIT,
            max_ack_pending: 100,
            inactive_threshold: None,
        }
    }

    async fn publish(streams: &MemoryStreams, message: Message) -> Result<PubAck> {
        streams.publish(message).await?.await
    }

    async fn publish_with_id(streams: &MemoryStreams, subject: &str, id: &str) -> PubAck {
        let mut headers = Headers::new();
        headers.insert(MSG_ID_HEADER, id);
        let message = Message {
            headers,
            ..Message::new(subject, id.as_bytes().to_vec())
        };
        publish(streams, message).await.unwrap()
    }

    async fn publish_n(streams: &MemoryStreams, subject: &str, n: u8) {
        for i in 0..n {
            publish(streams, Message::new(subject, vec![i]))
                .await
                .unwrap();
        }
    }

    /// Polls once more than the yield after a delivery needs (see `Binding::yield_first`).
    fn poll_now(deliveries: &mut Deliveries) -> Option<Option<Result<Delivery>>> {
        deliveries
            .next()
            .now_or_never()
            .or_else(|| deliveries.next().now_or_never())
    }

    /// The next delivery, which must be there without the clock moving further.
    fn ready(deliveries: &mut Deliveries) -> Delivery {
        poll_now(deliveries)
            .expect("a delivery is ready")
            .expect("binding open")
            .expect("no transport error")
    }

    /// Asserts that nothing is deliverable now (and leaves the binding waiting).
    fn idle(deliveries: &mut Deliveries) {
        if let Some(item) = poll_now(deliveries) {
            panic!("unexpected delivery: {item:?}");
        }
    }

    #[tokio::test]
    async fn unsettled_deliveries_come_again_only_when_the_clock_passes_ack_wait() {
        let (clock, streams) = streams();
        streams
            .ensure_stream(stream_config("S", Retention::Limits, -1))
            .await
            .unwrap();
        let mut deliveries = streams.consume("S", consumer("c", "s.>")).await.unwrap();
        publish_n(&streams, "s.a", 1).await;
        let first = ready(&mut deliveries);
        assert_eq!((first.info.stream_sequence, first.info.delivered), (1, 1));
        idle(&mut deliveries);
        clock.advance(ACK_WAIT - Duration::from_secs(1));
        idle(&mut deliveries);
        clock.advance(Duration::from_secs(1));
        // The binding was already waiting: advancing the clock wakes it.
        let again = tokio::time::timeout(Duration::from_secs(5), deliveries.next())
            .await
            .expect("woken by the clock")
            .unwrap()
            .unwrap();
        assert_eq!((again.info.stream_sequence, again.info.delivered), (1, 2));
        assert_eq!(again.message.payload, first.message.payload);
        again.ack().await.unwrap();
        clock.advance(ACK_WAIT * 10);
        idle(&mut deliveries);
    }

    #[tokio::test]
    async fn nak_delays_and_progress_follow_the_clock() {
        let (clock, streams) = streams();
        streams
            .ensure_stream(stream_config("S", Retention::Limits, -1))
            .await
            .unwrap();
        let mut deliveries = streams.consume("S", consumer("c", "s.>")).await.unwrap();
        publish_n(&streams, "s.a", 1).await;
        ready(&mut deliveries)
            .nak(Duration::from_secs(10))
            .await
            .unwrap();
        idle(&mut deliveries);
        clock.advance(Duration::from_secs(9));
        idle(&mut deliveries);
        clock.advance(Duration::from_secs(1));
        let second = ready(&mut deliveries);
        assert_eq!(second.info.delivered, 2);
        second.nak(Duration::ZERO).await.unwrap();
        let third = ready(&mut deliveries);
        assert_eq!(third.info.delivered, 3);
        // Progress restarts ack_wait from now.
        clock.advance(ACK_WAIT - Duration::from_secs(5));
        third.in_progress().await.unwrap();
        clock.advance(ACK_WAIT - Duration::from_secs(1));
        idle(&mut deliveries);
        clock.advance(Duration::from_secs(1));
        assert_eq!(ready(&mut deliveries).info.delivered, 4);
    }

    #[tokio::test]
    async fn duplicates_are_remembered_for_the_window_only() {
        let (clock, streams) = streams();
        streams
            .ensure_stream(stream_config("S", Retention::Limits, -1))
            .await
            .unwrap();
        let first = publish_with_id(&streams, "s.a", "x").await;
        assert!(!first.duplicate);
        clock.advance(Duration::from_secs(59));
        let again = publish_with_id(&streams, "s.b", "x").await;
        assert_eq!((again.sequence, again.duplicate), (first.sequence, true));
        assert_eq!(streams.stream_len("S").await.unwrap(), 1);
        // The window counts from the first publish, not from the duplicate.
        clock.advance(Duration::from_secs(1));
        let later = publish_with_id(&streams, "s.a", "x").await;
        assert_eq!((later.sequence, later.duplicate), (2, false));
        assert_eq!(streams.stream_len("S").await.unwrap(), 2);
    }

    #[tokio::test]
    async fn inactive_consumers_are_removed_after_the_threshold() {
        let (clock, streams) = streams();
        streams
            .ensure_stream(stream_config("S", Retention::Limits, -1))
            .await
            .unwrap();
        publish_n(&streams, "s.a", 2).await;
        let mut config = consumer("c", "s.>");
        config.inactive_threshold = Some(Duration::from_secs(10));
        let mut deliveries = streams.consume("S", config.clone()).await.unwrap();
        let first = ready(&mut deliveries);
        first.ack().await.unwrap();
        let second = ready(&mut deliveries);
        drop(deliveries);
        // Settling does not need the binding.
        second.ack().await.unwrap();
        clock.advance(Duration::from_secs(9));
        let mut rebound = streams.consume("S", config.clone()).await.unwrap();
        idle(&mut rebound);
        // A bound consumer never expires.
        clock.advance(Duration::from_secs(60));
        idle(&mut rebound);
        drop(rebound);
        clock.advance(Duration::from_secs(10));
        let mut fresh = streams.consume("S", config).await.unwrap();
        let restarted = ready(&mut fresh);
        assert_eq!(
            (restarted.info.stream_sequence, restarted.info.delivered),
            (1, 1)
        );
        // An acker of the removed consumer cannot settle for the new one.
        assert!(matches!(first.term().await, Err(Error::Closed(_))));
    }

    #[tokio::test]
    async fn redeliveries_come_before_new_messages() {
        let (clock, streams) = streams();
        streams
            .ensure_stream(stream_config("S", Retention::Limits, -1))
            .await
            .unwrap();
        let mut deliveries = streams.consume("S", consumer("c", "s.>")).await.unwrap();
        publish_n(&streams, "s.a", 1).await;
        let _unsettled = ready(&mut deliveries);
        clock.advance(ACK_WAIT);
        publish_n(&streams, "s.a", 1).await;
        let order: Vec<(u64, u64)> = (0..2)
            .map(|_| {
                let d = ready(&mut deliveries);
                (d.info.stream_sequence, d.info.delivered)
            })
            .collect();
        assert_eq!(order, [(1, 2), (2, 1)]);
    }

    #[tokio::test]
    async fn bindings_share_the_messages_and_max_ack_pending() {
        let (_clock, streams) = streams();
        streams
            .ensure_stream(stream_config("S", Retention::Limits, -1))
            .await
            .unwrap();
        let mut config = consumer("c", "s.>");
        config.max_ack_pending = 2;
        let mut a = streams.consume("S", config.clone()).await.unwrap();
        let mut b = streams.consume("S", config).await.unwrap();
        publish_n(&streams, "s.a", 4).await;
        let from_a = ready(&mut a);
        let from_b = ready(&mut b);
        idle(&mut a);
        idle(&mut b);
        from_a.ack().await.unwrap();
        // `b` was waiting for a free slot: the ack wakes it.
        let third = tokio::time::timeout(Duration::from_secs(5), b.next())
            .await
            .expect("woken by the ack")
            .unwrap()
            .unwrap();
        let mut sequences = [
            from_a.info.stream_sequence,
            from_b.info.stream_sequence,
            third.info.stream_sequence,
        ];
        sequences.sort_unstable();
        assert_eq!(sequences, [1, 2, 3]);
        idle(&mut a);
    }

    #[tokio::test]
    async fn stale_settles_are_harmless() {
        let (clock, streams) = streams();
        streams
            .ensure_stream(stream_config("S", Retention::Limits, -1))
            .await
            .unwrap();
        publish_n(&streams, "s.a", 1).await;
        let mut a = streams.consume("S", consumer("c", "s.>")).await.unwrap();
        let old = ready(&mut a);
        a.stop().await;
        assert!(a.next().await.is_none(), "a stopped binding ends");
        let mut b = streams.consume("S", consumer("c", "s.>")).await.unwrap();
        clock.advance(ACK_WAIT);
        let current = ready(&mut b);
        assert_eq!(current.info.delivered, 2);
        // The old delivery's nak and progress would disturb `b`: ignored.
        old.nak(Duration::ZERO).await.unwrap();
        old.in_progress().await.unwrap();
        idle(&mut b);
        // Its ack still counts, as on NATS; acking again is harmless.
        old.ack().await.unwrap();
        current.ack().await.unwrap();
        clock.advance(ACK_WAIT * 2);
        idle(&mut b);
    }

    #[tokio::test]
    async fn limits_evict_the_oldest_and_work_queues_refuse_when_full() {
        let (_clock, streams) = streams();
        streams
            .ensure_stream(stream_config("L", Retention::Limits, 2))
            .await
            .unwrap();
        let mut deliveries = streams.consume("L", consumer("c", "l.>")).await.unwrap();
        publish_n(&streams, "l.a", 1).await;
        let _pending = ready(&mut deliveries);
        publish_n(&streams, "l.a", 2).await;
        assert_eq!(streams.stream_len("L").await.unwrap(), 2);
        // The evicted message's pending delivery went with it.
        assert_eq!(ready(&mut deliveries).info.stream_sequence, 2);
        assert_eq!(ready(&mut deliveries).info.stream_sequence, 3);

        streams
            .ensure_stream(stream_config("W", Retention::WorkQueue, 2))
            .await
            .unwrap();
        publish_n(&streams, "w.a", 2).await;
        let refused = publish(&streams, Message::new("w.a", b"x".to_vec())).await;
        assert!(matches!(refused, Err(Error::Transport(_))), "{refused:?}");
        let mut worker = streams.consume("W", consumer("w", "w.>")).await.unwrap();
        ready(&mut worker).ack().await.unwrap();
        assert_eq!(streams.stream_len("W").await.unwrap(), 1);
        let stored = publish(&streams, Message::new("w.a", b"x".to_vec())).await;
        assert_eq!(stored.unwrap().sequence, 3);
    }

    #[tokio::test]
    async fn work_queue_consumers_are_checked_like_nats() {
        let (_clock, streams) = streams();
        streams
            .ensure_stream(stream_config("W", Retention::WorkQueue, -1))
            .await
            .unwrap();
        let _a = streams.consume("W", consumer("a", "w.a.>")).await.unwrap();
        let _b = streams.consume("W", consumer("b", "w.*")).await.unwrap();
        let overlapping = streams.consume("W", consumer("c", "w.>")).await;
        assert!(matches!(overlapping, Err(Error::Invalid { .. })));
        let mut not_first = consumer("d", "w.d.>");
        not_first.start = StartAt::New;
        let refused = streams.consume("W", not_first).await;
        assert!(matches!(refused, Err(Error::Invalid { .. })));
        // Binding an existing consumer is no new consumer; its start does not matter.
        let mut again = consumer("a", "w.a.>");
        again.start = StartAt::New;
        streams.consume("W", again).await.unwrap();
        let refiltered = streams.consume("W", consumer("a", "w.x.>")).await;
        assert!(matches!(refiltered, Err(Error::Invalid { .. })));
    }

    #[tokio::test]
    async fn streams_are_checked_like_nats() {
        let (_clock, streams) = streams();
        streams
            .ensure_stream(stream_config("A", Retention::Limits, -1))
            .await
            .unwrap();
        let mut overlapping = stream_config("B", Retention::Limits, -1);
        overlapping.subjects = vec!["a.b".to_owned()];
        assert!(matches!(
            streams.ensure_stream(overlapping).await,
            Err(Error::Invalid { .. })
        ));
        // An existing stream keeps its settings.
        let mut changed = stream_config("A", Retention::WorkQueue, 1);
        changed.subjects = vec!["c.>".to_owned()];
        streams.ensure_stream(changed).await.unwrap();
        let uncaptured = publish(&streams, Message::new("c.x", Vec::new())).await;
        assert_eq!(
            uncaptured,
            Err(Error::NoResponders {
                subject: "c.x".to_owned()
            })
        );
        publish_n(&streams, "a.x", 2).await;
        assert_eq!(streams.stream_len("A").await.unwrap(), 2);
        assert!(
            streams
                .ensure_stream(stream_config("bad.name", Retention::Limits, -1))
                .await
                .is_err()
        );
        assert!(
            streams
                .publish(Message::new("a.*", Vec::new()))
                .await
                .is_err()
        );
        assert!(streams.stream_len("missing").await.is_err());
        assert!(
            streams
                .consume("missing", consumer("c", "a.>"))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn deleting_a_consumer_ends_its_bindings_and_forgets_its_position() {
        let (_clock, streams) = streams();
        streams
            .ensure_stream(stream_config("S", Retention::Limits, -1))
            .await
            .unwrap();
        publish_n(&streams, "s.a", 1).await;
        let mut deliveries = streams.consume("S", consumer("c", "s.>")).await.unwrap();
        ready(&mut deliveries).ack().await.unwrap();
        idle(&mut deliveries);
        streams.delete_consumer("S", "c").await.unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(5), deliveries.next()).await;
        assert!(
            matches!(ended, Ok(None)),
            "binding of a deleted consumer ends"
        );
        streams.delete_consumer("S", "c").await.unwrap();
        streams.delete_consumer("missing", "c").await.unwrap();
        let mut fresh = streams.consume("S", consumer("c", "s.>")).await.unwrap();
        assert_eq!(ready(&mut fresh).info.delivered, 1);
    }

    #[tokio::test]
    async fn start_positions_follow_the_stream_and_its_clock() {
        let (clock, streams) = streams();
        streams
            .ensure_stream(stream_config("S", Retention::Limits, -1))
            .await
            .unwrap();
        publish_n(&streams, "s.a", 2).await;
        clock.advance(Duration::from_secs(10));
        let since = clock.system_time();
        publish_n(&streams, "s.a", 2).await;
        let starts = [
            (StartAt::First, 1),
            (StartAt::Sequence(2), 2),
            (StartAt::Time(since), 3),
        ];
        for (i, (start, expected)) in starts.into_iter().enumerate() {
            let mut config = consumer(&format!("c{i}"), "s.>");
            config.start = start;
            let mut deliveries = streams.consume("S", config).await.unwrap();
            let first = ready(&mut deliveries);
            assert_eq!(first.info.stream_sequence, expected, "{start:?}");
        }
        let mut config = consumer("new", "s.>");
        config.start = StartAt::New;
        let mut deliveries = streams.consume("S", config).await.unwrap();
        idle(&mut deliveries);
        publish_n(&streams, "s.a", 1).await;
        assert_eq!(ready(&mut deliveries).info.stream_sequence, 5);
    }
}
