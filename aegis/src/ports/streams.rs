use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use futures::Stream;

use super::{BoxFuture, Message};
use crate::Result;

pub use crate::domain::headers::MSG_ID_HEADER;

/// What a stream keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Messages stay until a limit (`max_msgs`) evicts the oldest; any number of consumers.
    Limits,
    /// A work queue: a message is removed once a consumer acknowledges (or terminates) it;
    /// consumers of one stream must not have overlapping filters.
    WorkQueue,
}

/// A persistent stream: the subjects it captures and how long it keeps messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamConfig {
    /// Stream name (`EVENTS`, `COMMANDS`, ...).
    pub name: String,
    /// Subjects it captures (wildcards allowed).
    pub subjects: Vec<String>,
    /// What it keeps.
    pub retention: Retention,
    /// The most messages it holds (`-1`: no limit). When full, a [`Retention::Limits`]
    /// stream evicts its oldest message, a [`Retention::WorkQueue`] refuses the publish (a
    /// command is never dropped silently).
    pub max_msgs: i64,
    /// How long a [`MSG_ID_HEADER`] is remembered for deduplication.
    pub duplicate_window: Duration,
}

/// Where a new consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// With messages published after it was created.
    New,
    /// With the first message the stream holds.
    First,
    /// With the message of this stream sequence (or the next one the stream holds).
    Sequence(u64),
    /// With the first message published at or after this time.
    Time(SystemTime),
}

/// A durable consumer: a named position in a stream, shared by everyone who binds it.
///
/// Every message matching `filter_subject` goes to one binding at a time; it is delivered
/// again (to any binding) when not acknowledged within `ack_wait`, or after a
/// [`AckKind::Nak`] delay. Deliveries are not capped here: callers count them
/// ([`DeliveryInfo::delivered`]) and decide when to give up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Durable name (letters, digits, `-`, `_`).
    pub name: String,
    /// Subject filter (wildcards allowed).
    pub filter_subject: String,
    /// Where it starts when it is created; an existing consumer keeps its position.
    pub start: StartAt,
    /// How long a delivery may stay unacknowledged before it is delivered again.
    pub ack_wait: Duration,
    /// The most deliveries awaiting acknowledgement at once, over all bindings.
    pub max_ack_pending: usize,
    /// How many deliveries one binding may fetch ahead of its reader. Fetched deliveries are
    /// not kept alive until read, so keep this to what the reader takes within `ack_wait`
    /// (adapters that deliver on demand ignore it).
    pub fetch_ahead: usize,
    /// Remove the consumer after it has had no binding this long (`None`: keep it).
    pub inactive_threshold: Option<Duration>,
}

/// An acknowledgement of a stored publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubAck {
    /// The stream that stored it.
    pub stream: String,
    /// Its sequence in that stream.
    pub sequence: u64,
    /// `true` when a message with the same [`MSG_ID_HEADER`] was already stored.
    pub duplicate: bool,
}

/// A message as a stream holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// Its sequence in the stream.
    pub sequence: u64,
    /// The message as published (subject, headers, payload; no reply subject).
    pub message: Message,
    /// When the stream stored it.
    pub published: SystemTime,
}

/// A publish on its way: resolves once the stream has stored the message (or refused it).
pub struct PendingAck(BoxFuture<'static, Result<PubAck>>);

impl PendingAck {
    /// Wraps an adapter's acknowledgement future.
    pub fn new(future: impl Future<Output = Result<PubAck>> + Send + 'static) -> Self {
        PendingAck(Box::pin(future))
    }
}

impl Future for PendingAck {
    type Output = Result<PubAck>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for PendingAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAck").finish_non_exhaustive()
    }
}

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    /// Done: never deliver it again (a work queue removes it). Confirmed by the server.
    Ack,
    /// Failed: deliver it again after this delay.
    Nak(Duration),
    /// Still working: restart the `ack_wait` timer.
    Progress,
    /// Give up: never deliver it again (a work queue removes it). Confirmed by the server.
    Term,
}

/// Settles one delivery. Cloneable through `Arc`, so that a keep-alive can outlive the
/// [`Delivery`] it came with.
pub trait Acker: Send + Sync + 'static {
    /// Sends `kind` for this delivery.
    fn settle(&self, kind: AckKind) -> BoxFuture<'_, Result<()>>;
}

/// Facts about one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryInfo {
    /// The message's sequence in its stream.
    pub stream_sequence: u64,
    /// How many times it has been delivered, this time included (1 the first time).
    pub delivered: u64,
    /// When the stream stored it.
    pub published: SystemTime,
}

/// A message delivered by a consumer, to be settled with [`ack`](Self::ack) and friends.
pub struct Delivery {
    /// The message as published (subject, headers, payload; no reply subject).
    pub message: Message,
    /// Delivery facts.
    pub info: DeliveryInfo,
    acker: Arc<dyn Acker>,
}

impl Delivery {
    /// A delivery from an adapter.
    pub fn new(message: Message, info: DeliveryInfo, acker: Arc<dyn Acker>) -> Self {
        Delivery {
            message,
            info,
            acker,
        }
    }

    /// Acknowledges it: done.
    pub async fn ack(&self) -> Result<()> {
        self.acker.settle(AckKind::Ack).await
    }

    /// Asks for redelivery after `delay`.
    pub async fn nak(&self, delay: Duration) -> Result<()> {
        self.acker.settle(AckKind::Nak(delay)).await
    }

    /// Restarts the `ack_wait` timer.
    pub async fn in_progress(&self) -> Result<()> {
        self.acker.settle(AckKind::Progress).await
    }

    /// Gives up on it: it is not delivered again.
    pub async fn term(&self) -> Result<()> {
        self.acker.settle(AckKind::Term).await
    }

    /// The settle handle, for keep-alives.
    pub fn acker(&self) -> Arc<dyn Acker> {
        Arc::clone(&self.acker)
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("subject", &self.message.subject)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Where a binding's deliveries come from.
pub trait DeliverySource: Stream<Item = Result<Delivery>> + Send + Unpin {
    /// Stops asking for more; deliveries already received keep their acknowledgement state
    /// (unsettled ones are delivered again after `ack_wait`, or at once after a nak). The
    /// stream then ends.
    fn stop(&mut self) -> BoxFuture<'_, ()>;
}

/// One binding to a durable consumer: a stream of deliveries. Dropping it unbinds.
///
/// An item is an error when the transport fails; the binding keeps trying and yields
/// deliveries again once it recovers.
pub struct Deliveries {
    inner: Box<dyn DeliverySource>,
}

impl Deliveries {
    /// Wraps an adapter's source.
    pub fn new(source: impl DeliverySource + 'static) -> Self {
        Deliveries {
            inner: Box::new(source),
        }
    }

    /// Stops asking for more; the stream ends after what was already received.
    pub async fn stop(&mut self) {
        self.inner.stop().await;
    }
}

impl Stream for Deliveries {
    type Item = Result<Delivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut *self.inner).poll_next(cx)
    }
}

impl fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deliveries").finish_non_exhaustive()
    }
}

/// Persistent streams with durable consumers, with NATS JetStream semantics.
///
/// Contract (checked by `testing::streams`):
/// - `ensure_stream` creates a missing stream and accepts an existing one of the same name
///   (its settings are left as they are); subjects of two streams may not overlap;
/// - `publish` resolves once the stream stored the message; a repeated [`MSG_ID_HEADER`]
///   inside the duplicate window is acknowledged with `duplicate: true` and not stored;
///   publishing to a subject no stream captures fails with
///   [`NoResponders`](crate::Error::NoResponders);
/// - `consume` creates the durable consumer if missing (else binds it, updating `ack_wait`,
///   `max_ack_pending` and `inactive_threshold`); bindings of one consumer share its
///   messages, each delivery going to one binding; separate consumers each see every
///   message matching their filter;
/// - unsettled deliveries come again after `ack_wait`, nak'ed ones after their delay, with
///   `delivered` counting up; acked and terminated ones never come again;
/// - in a work queue, acked and terminated messages are removed from the stream, a full
///   one refuses publishes, and consumers start with the first message and do not overlap;
/// - `purge_subject` removes every message of one subject, and nothing else;
/// - `next_message` reads without consuming: the first message at or after a sequence whose
///   subject matches a filter (wildcards allowed), `None` past the last one or when the
///   stream does not exist;
/// - `delete_message` removes one message (pending deliveries of it never come again);
///   `false` when it is not there, or the stream does not exist.
pub trait Streams: Send + Sync + 'static {
    /// Creates the stream if it does not exist.
    fn ensure_stream(&self, config: StreamConfig) -> BoxFuture<'_, Result<()>>;

    /// Sends `message` (subject, headers, payload) to the stream capturing its subject;
    /// returns once it is sent, with the acknowledgement still to come. Awaiting the returned
    /// [`PendingAck`]s of many publishes together is the fast path.
    fn publish(&self, message: Message) -> BoxFuture<'_, Result<PendingAck>>;

    /// Binds the durable consumer `config.name` on `stream`, creating it if missing.
    fn consume(&self, stream: &str, config: ConsumerConfig) -> BoxFuture<'_, Result<Deliveries>>;

    /// Removes a consumer (no error if it does not exist).
    fn delete_consumer<'a>(&'a self, stream: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>>;

    /// How many messages `stream` holds now.
    fn stream_len<'a>(&'a self, stream: &'a str) -> BoxFuture<'a, Result<u64>>;

    /// Removes every message of `subject` (no wildcards) from `stream`; returns how many
    /// there were.
    fn purge_subject<'a>(&'a self, stream: &'a str, subject: &'a str)
    -> BoxFuture<'a, Result<u64>>;

    /// The first message of `stream` at or after sequence `from` whose subject matches
    /// `filter` (wildcards allowed); `None` when there is none, or no such stream.
    fn next_message<'a>(
        &'a self,
        stream: &'a str,
        from: u64,
        filter: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredMessage>>>;

    /// Removes the message at `sequence` from `stream`; `false` when it is not there, or
    /// there is no such stream.
    fn delete_message<'a>(&'a self, stream: &'a str, sequence: u64) -> BoxFuture<'a, Result<bool>>;
}
