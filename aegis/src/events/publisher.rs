//! Publishing events into the `EVENTS` stream.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use futures::stream::{FuturesOrdered, StreamExt};
use serde::Serialize;

use crate::backend::Backend;
use crate::codec::Codec;
use crate::domain::envelope::TRACEPARENT_HEADER;
use crate::domain::subject::{
    EVENTS_STREAM, EVENTS_SUBJECTS, event_subject, validate_subject_token,
};
use crate::domain::wire::{Id, OutgoingEvent, Timestamp};
use crate::ports::{Headers, MSG_ID_HEADER, Message, PendingAck, PubAck, Streams};
use crate::propagation;
use crate::{Error, Result};

/// The `EVENTS` stream as the Python SDK creates it: limits retention, 100,000 messages,
/// oldest evicted first; a 2-minute deduplication window.
pub(crate) fn events_stream() -> crate::ports::StreamConfig {
    crate::ports::StreamConfig {
        name: EVENTS_STREAM.into(),
        subjects: vec![EVENTS_SUBJECTS.into()],
        retention: crate::ports::Retention::Limits,
        max_msgs: 100_000,
        duplicate_window: std::time::Duration::from_secs(120),
    }
}

/// A typed event topic: a domain and an event type, with the payload type that goes there.
///
/// ```
/// # #[derive(serde::Serialize)] struct OrderCreated { id: u64 }
/// let created = aegis::events::Topic::<OrderCreated>::new("orders", "created")?;
/// assert_eq!(created.subject(), "events.orders.created");
/// # Ok::<(), aegis::Error>(())
/// ```
pub struct Topic<T> {
    domain: Arc<str>,
    event_type: Arc<str>,
    subject: Arc<str>,
    payload: PhantomData<fn(&T)>,
}

impl<T> Clone for Topic<T> {
    fn clone(&self) -> Self {
        Topic {
            domain: Arc::clone(&self.domain),
            event_type: Arc::clone(&self.event_type),
            subject: Arc::clone(&self.subject),
            payload: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Topic").field(&self.subject).finish()
    }
}

impl<T> Topic<T> {
    /// The topic `events.{domain}.{event_type}`; `event_type` may contain dots.
    pub fn new(domain: &str, event_type: &str) -> Result<Self> {
        validate_subject_token("event domain", domain)?;
        for token in event_type.split('.') {
            validate_subject_token("event type", token)?;
        }
        Ok(Topic {
            subject: event_subject(domain, event_type).into(),
            domain: domain.into(),
            event_type: event_type.into(),
            payload: PhantomData,
        })
    }

    /// Its subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Its domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Its event type.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }
}

/// Publishes events into the `EVENTS` stream (created on first use when missing).
///
/// Every event gets a fresh `message_id`, sent as `Nats-Msg-Id` too, so that the stream
/// drops a repeated publish. [`publish`](Self::publish) waits for the stream's
/// acknowledgement; [`publish_all`](Self::publish_all) keeps many in flight.
#[derive(Clone)]
pub struct EventPublisher {
    streams: Arc<dyn Streams>,
    codec: Codec,
    source: Option<Arc<str>>,
    traceparent: Option<Arc<str>>,
    /// Whether events carry `traceparent` (the backend's setting).
    propagate: bool,
    ready: Arc<tokio::sync::OnceCell<()>>,
}

impl fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventPublisher")
            .field("codec", &self.codec)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl EventPublisher {
    /// A publisher on `backend` (MessagePack, no source).
    pub fn new(backend: &Backend) -> Result<Self> {
        Ok(EventPublisher {
            streams: Arc::clone(backend.streams()?),
            codec: Codec::default(),
            source: None,
            traceparent: None,
            propagate: backend.trace_propagation(),
            ready: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    /// Sets the envelope's `source` (an instance id, by convention).
    pub fn with_source(mut self, source: impl Into<Arc<str>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sends `traceparent` (W3C) with every event, so that handlers join the caller's trace
    /// (pass on a handler's own `traceparent()`, say).
    pub fn with_traceparent(mut self, traceparent: impl Into<Arc<str>>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }

    /// Encodes events with `codec`.
    pub fn with_codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Publishes one event and waits until the stream has stored it.
    pub async fn publish<T: Serialize>(&self, topic: &Topic<T>, payload: &T) -> Result<PubAck> {
        self.send(topic, payload).await?.await
    }

    /// Publishes every payload to `topic`, keeping them all in flight at once, and returns
    /// the acknowledgements in order. Stops at the first error (events before it may have
    /// been stored).
    pub async fn publish_all<'a, T, I>(&self, topic: &Topic<T>, payloads: I) -> Result<Vec<PubAck>>
    where
        T: Serialize + 'a,
        I: IntoIterator<Item = &'a T>,
    {
        let mut pending = FuturesOrdered::new();
        for payload in payloads {
            pending.push_back(self.send(topic, payload).await?);
        }
        let mut acks = Vec::with_capacity(pending.len());
        while let Some(ack) = pending.next().await {
            acks.push(ack?);
        }
        Ok(acks)
    }

    /// Sends one event; the returned [`PendingAck`] resolves when the stream has stored it.
    /// Await many of them together for throughput.
    pub async fn send<T: Serialize>(&self, topic: &Topic<T>, payload: &T) -> Result<PendingAck> {
        self.ready
            .get_or_try_init(|| self.streams.ensure_stream(events_stream()))
            .await?;
        let (id, timestamp) = (Id::new(), Timestamp::now());
        let mut headers = Headers::new();
        headers.insert(MSG_ID_HEADER, id.as_str());
        if let Some(traceparent) = &self.traceparent {
            headers.insert(TRACEPARENT_HEADER, &**traceparent);
        }
        let trace_id = propagation::inject(&mut headers, self.propagate).trace_id();
        let event = OutgoingEvent {
            message_id: id.as_str(),
            trace_id: &trace_id,
            correlation_id: None,
            timestamp: timestamp.as_str(),
            source: self.source.as_deref(),
            target: None,
            domain: topic.domain(),
            event_type: topic.event_type(),
            payload,
            version: "1.0",
        };
        let body = self
            .codec
            .encode(&event)
            .map_err(|e| Error::bad_request(format!("cannot encode the event: {e}")))?;
        let message = Message {
            subject: topic.subject().to_owned(),
            reply: None,
            headers,
            payload: body.into(),
        };
        self.streams.publish(message).await
    }
}
