use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;

use super::BoxFuture;
use crate::Result;

/// Message headers: an ordered list of name/value pairs (names compare case-sensitively, as NATS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(Cow<'static, str>, String)>);

impl Headers {
    /// No headers.
    pub const fn new() -> Self {
        Headers(Vec::new())
    }

    /// Appends a header.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((Cow::Owned(name.into()), value.into()));
    }

    /// Appends a header whose name is a constant: the name is not copied (headers aegis sets
    /// on every message, such as `traceparent`).
    pub fn insert_static(&mut self, name: &'static str, value: impl Into<String>) {
        self.0.push((Cow::Borrowed(name), value.into()));
    }

    /// First value of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The headers by value, names as given (borrowed when constant), in insertion order.
    pub(crate) fn into_entries(self) -> impl Iterator<Item = (Cow<'static, str>, String)> {
        self.0.into_iter()
    }

    /// `true` when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// All headers in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_str()))
    }

    /// Checks what NATS can carry: names of visible ASCII without `:`, values without line
    /// breaks. Every adapter refuses other headers with [`crate::Error::Invalid`].
    pub fn validate(&self) -> Result<()> {
        for (name, value) in self.iter() {
            // Bytes, not chars: runs on every message that has headers.
            if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic() || b == b':') {
                return Err(crate::Error::invalid("header name", format!("`{name}`")));
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(crate::Error::invalid(
                    "header value",
                    format!("`{name}` has a line break"),
                ));
            }
        }
        Ok(())
    }
}

/// The server a bus is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// Its version, e.g. `2.15.1`.
    pub version: String,
    /// Whether it is part of a cluster (KV buckets may then be replicated).
    pub clustered: bool,
}

impl ServerInfo {
    /// `true` when KV compare-and-set is safe on this server for replicated buckets:
    /// always on a single server; on a cluster only from nats-server 2.11 (earlier versions
    /// let concurrent `create`/`update` with one expected revision all succeed).
    pub fn cas_is_safe(&self) -> bool {
        if !self.clustered {
            return true;
        }
        let mut parts = self.version.trim_start_matches('v').split('.');
        let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (major, minor) >= (2, 11)
    }
}

/// A message as delivered to a subscriber or returned as a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Subject the message was published to.
    pub subject: String,
    /// Where to send a reply, for requests.
    pub reply: Option<String>,
    /// Headers (possibly empty).
    pub headers: Headers,
    /// Body.
    pub payload: Bytes,
}

impl Message {
    /// A message without reply subject or headers.
    pub fn new(subject: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Message {
            subject: subject.into(),
            reply: None,
            headers: Headers::new(),
            payload: payload.into(),
        }
    }
}

/// Core messaging, with NATS semantics.
///
/// Contract (checked by `testing::bus`):
/// - `subscribe` with a queue group delivers each message to exactly one member of the group;
///   plain subscribers each get every message;
/// - subjects are `.`-separated tokens; `*` matches one token, `>` one or more trailing tokens;
/// - `request` fails at once with [`crate::Error::NoResponders`] when nobody is subscribed,
///   and with [`crate::Error::Timeout`] when no reply arrives in time;
/// - a dropped [`Subscription`] stops receiving (it unsubscribes).
pub trait MessageBus: Send + Sync + 'static {
    /// Publishes a message (its `reply` field is sent along as the reply subject).
    fn publish(&self, message: Message) -> BoxFuture<'_, Result<()>>;

    /// Sends a request and waits for the first reply.
    fn request(&self, message: Message, timeout: Duration) -> BoxFuture<'_, Result<Message>>;

    /// Waits until everything published so far has left this process (the default: at
    /// once, for transports without a buffer). A graceful stop calls it last, so that the
    /// replies it sent are not lost when the process exits.
    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Changes each time the server announces that it is shutting down (NATS lame-duck
    /// mode), for transports whose server can; `None` otherwise.
    fn lame_duck_notices(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// What the server says about itself, when the transport has a server (NATS).
    fn server_info(&self) -> Option<ServerInfo> {
        None
    }

    /// Subscribes to `subject` (wildcards allowed), optionally as a member of `queue_group`.
    fn subscribe(
        &self,
        subject: &str,
        queue_group: Option<&str>,
    ) -> BoxFuture<'_, Result<Subscription>>;
}

/// Where a subscription's messages come from: a stream that can also be drained.
pub trait MessageSource: Stream<Item = Message> + Send + Unpin {
    /// Stops new deliveries; the stream then yields the messages already on their way and
    /// ends. Used by graceful stop, so that no request accepted by the server is dropped.
    fn drain(&mut self) -> BoxFuture<'_, ()>;
}

/// A stream of messages for one subscription. Dropping it unsubscribes; [`drain`](Self::drain)
/// unsubscribes without losing what is already on its way.
pub struct Subscription {
    inner: Box<dyn MessageSource>,
}

impl Subscription {
    /// Wraps an adapter's stream that cannot be drained (drain then simply ends it); the
    /// stream must unsubscribe when dropped.
    pub fn new(stream: impl Stream<Item = Message> + Send + 'static) -> Self {
        Subscription {
            inner: Box::new(Undrainable {
                stream: Box::pin(stream),
                ended: false,
            }),
        }
    }

    /// Wraps an adapter's drainable source.
    pub fn drainable(source: impl MessageSource + 'static) -> Self {
        Subscription {
            inner: Box::new(source),
        }
    }

    /// Unsubscribes; the stream ends after the messages already on their way.
    pub async fn drain(&mut self) {
        self.inner.drain().await;
    }
}

struct Undrainable {
    stream: Pin<Box<dyn Stream<Item = Message> + Send>>,
    ended: bool,
}

impl Stream for Undrainable {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        if self.ended {
            return Poll::Ready(None);
        }
        self.stream.as_mut().poll_next(cx)
    }
}

impl MessageSource for Undrainable {
    fn drain(&mut self) -> BoxFuture<'_, ()> {
        self.ended = true;
        Box::pin(async {})
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Stream for Subscription {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        Pin::new(&mut *self.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_names_are_headers_like_any_other() {
        let mut constant = Headers::new();
        constant.insert_static("traceparent", "00-1-2-01");
        let mut copied = Headers::new();
        copied.insert(String::from("traceparent"), "00-1-2-01");
        assert_eq!(constant, copied);
        assert_eq!(constant.get("traceparent"), Some("00-1-2-01"));
        let entries: Vec<_> = constant.into_entries().collect();
        assert!(matches!(entries[0].0, Cow::Borrowed("traceparent")));
        let mut invalid = Headers::new();
        invalid.insert_static("bad name", "v");
        assert!(invalid.validate().is_err());
    }

    #[test]
    fn cas_safety_by_version() {
        let info = |version: &str, clustered| ServerInfo {
            version: version.into(),
            clustered,
        };
        assert!(info("2.9.10", false).cas_is_safe());
        assert!(!info("2.9.10", true).cas_is_safe());
        assert!(!info("2.10.29", true).cas_is_safe());
        assert!(info("2.11.0", true).cas_is_safe());
        assert!(info("2.15.1", true).cas_is_safe());
    }
}
