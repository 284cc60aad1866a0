//! [`MessageBus`] on NATS core.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::error;
use super::placement::Placement;
use super::stats::ConnectionStats;
use crate::Result;
use crate::domain::subject::validate_subject;
use crate::ports::{BoxFuture, Headers, Message, MessageBus, MessageSource, Subscription};

/// The message bus on a NATS connection. Cheap to clone.
#[derive(Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    stats: Arc<ConnectionStats>,
    /// Applied to the streams and buckets created on this connection.
    placement: Placement,
}

impl fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsBus")
            .field("state", &self.client.connection_state())
            .finish_non_exhaustive()
    }
}

impl NatsBus {
    pub(super) fn new(
        client: async_nats::Client,
        stats: Arc<ConnectionStats>,
        placement: Placement,
    ) -> Self {
        NatsBus {
            client,
            stats,
            placement,
        }
    }

    pub(super) fn placement(&self) -> Placement {
        self.placement
    }

    /// Connection events so far.
    pub fn stats(&self) -> &ConnectionStats {
        &self.stats
    }

    pub(super) fn stats_arc(&self) -> &Arc<ConnectionStats> {
        &self.stats
    }

    /// The underlying async-nats client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The server's maximum payload size, in bytes.
    pub fn max_payload(&self) -> usize {
        self.client.server_info().max_payload
    }
}

/// Headers for async-nats, refusing what it would panic on.
pub(super) fn to_nats_headers(headers: &Headers) -> Result<async_nats::HeaderMap> {
    headers.validate()?;
    let mut map = async_nats::HeaderMap::new();
    for (name, value) in headers.iter() {
        map.append(name, value);
    }
    Ok(map)
}

/// [`to_nats_headers`] for headers the caller gives up: values are moved, constant names are
/// not copied (a request's `traceparent` costs no copy of either).
fn into_nats_headers(headers: Headers) -> Result<async_nats::HeaderMap> {
    headers.validate()?;
    let mut map = async_nats::HeaderMap::new();
    for (name, value) in headers.into_entries() {
        let name = match name {
            std::borrow::Cow::Borrowed(name) => async_nats::HeaderName::from_static(name),
            std::borrow::Cow::Owned(name) => {
                async_nats::header::IntoHeaderName::into_header_name(name)
            }
        };
        map.append(name, async_nats::HeaderValue::from(value));
    }
    Ok(map)
}

pub(super) fn from_nats_headers(map: &async_nats::HeaderMap) -> Headers {
    use crate::domain::headers::{TRACEPARENT_HEADER, TRACESTATE_HEADER};
    let mut headers = Headers::new();
    for (name, values) in map.iter() {
        let name = AsRef::<str>::as_ref(name);
        // The names on every traced message are not copied.
        let constant = [TRACEPARENT_HEADER, TRACESTATE_HEADER]
            .into_iter()
            .find(|constant| *constant == name);
        for value in values {
            match constant {
                Some(name) => headers.insert_static(name, value.as_str()),
                None => headers.insert(name, value.as_str()),
            }
        }
    }
    headers
}

fn from_nats(message: async_nats::Message) -> Message {
    Message {
        // Copied as `str`, not through `Display` (`to_string`): this runs for every message.
        subject: String::from(message.subject.as_str()),
        reply: message.reply.as_deref().map(String::from),
        headers: message
            .headers
            .as_ref()
            .map(from_nats_headers)
            .unwrap_or_default(),
        payload: message.payload,
    }
}

/// An async-nats subscriber as a drainable source.
struct NatsSubscription(async_nats::Subscriber);

impl futures::Stream for NatsSubscription {
    type Item = Message;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Message>> {
        self.0.poll_next_unpin(cx).map(|m| m.map(from_nats))
    }
}

impl MessageSource for NatsSubscription {
    fn drain(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(error) = self.0.drain().await {
                tracing::warn!(%error, "could not drain a subscription");
            }
        })
    }
}

impl MessageBus for NatsBus {
    fn flush(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.client
                .flush()
                .await
                .map_err(|e| error::transport("flushing", e))
        })
    }

    fn lame_duck_notices(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.stats.lame_duck_notices())
    }

    fn server_info(&self) -> Option<crate::ports::ServerInfo> {
        let info = self.client.server_info();
        Some(crate::ports::ServerInfo {
            version: info.version,
            clustered: info.cluster.is_some() || !info.connect_urls.is_empty(),
        })
    }

    fn publish(&self, message: Message) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            validate_subject(&message.subject, false)?;
            let subject = message.subject;
            let payload = message.payload;
            // Plain PUB when there are no headers: smaller frames, and what Python peers send.
            let result = match (message.reply, message.headers.is_empty()) {
                (None, true) => self.client.publish(subject.clone(), payload).await,
                (Some(reply), true) => {
                    self.client
                        .publish_with_reply(subject.clone(), reply, payload)
                        .await
                }
                (None, false) => {
                    let headers = to_nats_headers(&message.headers)?;
                    self.client
                        .publish_with_headers(subject.clone(), headers, payload)
                        .await
                }
                (Some(reply), false) => {
                    let headers = to_nats_headers(&message.headers)?;
                    self.client
                        .publish_with_reply_and_headers(subject.clone(), reply, headers, payload)
                        .await
                }
            };
            result.map_err(|e| error::publish(e, &subject))
        })
    }

    fn request(&self, message: Message, timeout: Duration) -> BoxFuture<'_, Result<Message>> {
        Box::pin(async move {
            validate_subject(&message.subject, false)?;
            let mut request = async_nats::Request::new()
                .payload(message.payload)
                .timeout(Some(timeout));
            if !message.headers.is_empty() {
                request = request.headers(into_nats_headers(message.headers)?);
            }
            // Shares the bytes: the copies kept for errors cost no allocation.
            let subject = async_nats::Subject::from(message.subject);
            let reply = async {
                self.client
                    .send_request(subject.clone(), request)
                    .await
                    .map(from_nats)
                    .map_err(|e| error::request(e, &subject, timeout))
            };
            self.stats.unless_denied(subject.clone(), reply).await
        })
    }

    fn subscribe(
        &self,
        subject: &str,
        queue_group: Option<&str>,
    ) -> BoxFuture<'_, Result<Subscription>> {
        let subject = subject.to_owned();
        let queue_group = queue_group.map(str::to_owned);
        Box::pin(async move {
            validate_subject(&subject, true)?;
            let subscriber = match queue_group {
                Some(group) => self.client.queue_subscribe(subject.clone(), group).await,
                None => self.client.subscribe(subject.clone()).await,
            }
            .map_err(|e| error::transport(&format!("subscribe to `{subject}`"), e))?;
            Ok(Subscription::drainable(NatsSubscription(subscriber)))
        })
    }
}

#[cfg(test)]
mod malformed_headers {
    /// The patched async-nats marks a message whose header block did not parse with the
    /// header the RPC server looks for.
    #[test]
    fn the_marker_is_the_one_the_server_reads() {
        assert_eq!(
            async_nats::connection::MALFORMED_HEADERS,
            crate::domain::headers::MALFORMED_HEADERS_HEADER
        );
    }
}
