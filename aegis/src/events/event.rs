//! One event, as a `#[subscribe]` handler receives it, and how instances share them.

use std::fmt;

use crate::domain::trace::TraceContext;
use crate::ports::Headers;

/// How the instances of one service share a subscription's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionMode {
    /// Each event goes to one instance (a durable consumer shared by all instances).
    Compete,
    /// Each event goes to every instance (one consumer per instance).
    Broadcast,
}

impl fmt::Display for SubscriptionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubscriptionMode::Compete => "compete",
            SubscriptionMode::Broadcast => "broadcast",
        })
    }
}

/// One event, as a `#[subscribe]` handler receives it.
#[derive(Debug, Clone)]
pub struct Event<T> {
    pub(crate) id: String,
    pub(crate) trace_id: String,
    pub(crate) timestamp: String,
    pub(crate) source: Option<String>,
    pub(crate) domain: String,
    pub(crate) event_type: String,
    pub(crate) version: String,
    pub(crate) subject: String,
    pub(crate) delivered: u64,
    pub(crate) headers: Headers,
    pub(crate) trace: TraceContext,
    pub(crate) payload: T,
}

impl<T> Event<T> {
    /// The event's `message_id` (also its deduplication id in the stream).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The event's `trace_id`.
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// When it was created (ISO-8601, as the publisher wrote it).
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// Who published it (an instance id), when known.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The domain: `orders` in `events.orders.created`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The event type: `created` in `events.orders.created` (may contain dots).
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The payload schema version (`1.0` by default).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The subject it was published on.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// How many times it has been delivered to this subscription, this time included.
    pub fn delivery_count(&self) -> u64 {
        self.delivered
    }

    /// The trace the handler runs in: a child span of the publisher's (its `traceparent`),
    /// or a new trace if it sent none.
    pub fn trace(&self) -> &TraceContext {
        &self.trace
    }

    /// The W3C `traceparent` header, if the publisher set one.
    pub fn traceparent(&self) -> Option<&str> {
        self.headers
            .get(crate::domain::envelope::TRACEPARENT_HEADER)
    }

    /// The message headers (`traceparent`, `Nats-Msg-Id`, ...).
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The payload, by value.
    pub fn into_payload(self) -> T {
        self.payload
    }
}
