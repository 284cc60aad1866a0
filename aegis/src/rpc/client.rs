//! The engine of generated `{Type}Client`s: envelopes, timeouts, error mapping.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::backend::Backend;
use crate::codec::{Codec, decoder_message};
use crate::commands::sender::{CommandHandle, CommandOptions, Sender, send_command};
use crate::discovery::ServiceDiscovery;
use crate::discovery::selection::{SelectionStrategy, Selector};
use crate::domain::envelope::{ERROR_CODE_HEADER, RpcResponse, from_null};
use crate::domain::subject::{instance_subject, rpc_subject};
use crate::domain::wire::{Id, IncomingResponse, OutgoingRequest, Timestamp};
use crate::ports::{Headers, Message, MessageBus, Streams};
use crate::propagation;
use crate::rpc::interceptor::{Interceptor, Outgoing};
use crate::rpc::metrics::ClientMetrics;
use crate::rpc::retry::RetryPolicy;
use crate::{Error, Result};

/// Default per-call timeout (the Python SDK's).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Calls the methods of one service. Generated clients wrap it; cheap to clone.
///
/// Used directly, it is the untyped client: any method by name, with any serde parameters
/// and result (`serde_json::Value` for both, as the `aegis call` command does).
#[derive(Clone)]
pub struct ClientCore {
    bus: Arc<dyn MessageBus>,
    service: &'static str,
    timeout: Duration,
    codec: Codec,
    source: Option<Arc<str>>,
    routing: Option<Arc<Routing>>,
    retry: Option<RetryPolicy>,
    streams: Option<Arc<dyn Streams>>,
    command_options: CommandOptions,
    /// Headers and interceptors; `None` (no cost per call) until one is added.
    outgoing: Option<Arc<Outgoing>>,
    /// Whether requests and commands carry `traceparent` (the backend's setting).
    propagate: bool,
    /// `None` when the backend's metrics keep nothing.
    metrics: Option<ClientMetrics>,
}

/// Where calls go instead of the service's queue group: an instance's own subject.
enum Routing {
    /// The instance the strategy picks among those discovery finds.
    Discovered {
        discovery: Arc<dyn ServiceDiscovery>,
        selector: Selector,
    },
    /// One instance, by id.
    Pinned(Arc<str>),
}

impl fmt::Debug for ClientCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCore")
            .field("service", &self.service)
            .field("timeout", &self.timeout)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl ClientCore {
    /// A client of `service` on `backend`: 5 s timeout, MessagePack.
    pub fn new(backend: &Backend, service: &'static str) -> Self {
        ClientCore {
            bus: Arc::clone(backend.bus()),
            service,
            timeout: DEFAULT_TIMEOUT,
            codec: Codec::default(),
            source: None,
            routing: None,
            retry: None,
            streams: backend.streams().ok().cloned(),
            command_options: CommandOptions::default(),
            outgoing: None,
            propagate: backend.trace_propagation(),
            metrics: ClientMetrics::new(backend.metrics(), service),
        }
    }

    /// Routes calls to the instance `strategy` picks among those `discovery` finds healthy,
    /// on its per-instance subject `rpc.{service}.{method}.{instance_id}`. Without this,
    /// calls go through the service's queue group, as they do when the pick is a Python
    /// AegisSDK instance (an entry without the aegis marker), which has no such subject.
    pub fn set_routing(
        &mut self,
        discovery: Arc<dyn ServiceDiscovery>,
        strategy: SelectionStrategy,
    ) {
        self.routing = Some(Arc::new(Routing::Discovered {
            discovery,
            selector: Selector::new(strategy),
        }));
    }

    /// Sends every call to the aegis instance `instance_id` on its own subject
    /// `rpc.{service}.{method}.{instance_id}` (a missing instance: no responders). For
    /// operators and tests; a Python instance has no such subject.
    pub fn set_instance(&mut self, instance_id: impl Into<Arc<str>>) {
        self.routing = Some(Arc::new(Routing::Pinned(instance_id.into())));
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets the per-call timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sets the request codec (replies come back in the same codec).
    pub fn set_codec(&mut self, codec: Codec) {
        self.codec = codec;
    }

    /// Sets the `source` field of requests (who is calling).
    pub fn set_source(&mut self, source: impl Into<Arc<str>>) {
        self.source = Some(source.into());
    }

    /// Retries per `policy` (see [`RetryPolicy`]); without it, `#[exclusive_rpc]` methods
    /// retry with the default policy and `#[rpc]` methods do not retry.
    pub fn set_retry(&mut self, policy: RetryPolicy) {
        self.retry = Some(policy);
    }

    /// Sets how commands are sent (priority, retries, timeout).
    pub fn set_command_options(&mut self, options: CommandOptions) {
        self.command_options = options;
    }

    /// Adds a header to every request (calls and commands) this client sends.
    pub fn add_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let outgoing = Arc::make_mut(self.outgoing.get_or_insert_default());
        outgoing.add_header(name.into(), value.into());
    }

    /// Runs `interceptor` on every request (calls and commands) this client sends.
    pub fn add_interceptor(&mut self, interceptor: impl Interceptor) {
        let outgoing = Arc::make_mut(self.outgoing.get_or_insert_default());
        outgoing.add_interceptor(Arc::new(interceptor));
    }

    /// The headers of one request to `method` (or command): none, or those the client's
    /// fixed headers and interceptors give.
    fn headers(&self, method: &str) -> Result<Headers> {
        match &self.outgoing {
            None => Ok(Headers::new()),
            Some(outgoing) => outgoing.headers(self.service, method),
        }
    }

    /// Sends `command` to `commands.{service}.{command}` with `payload`; the handle follows
    /// its progress and outcome.
    pub async fn send_command<P, R>(
        &self,
        command: &'static str,
        payload: &P,
    ) -> Result<CommandHandle<R>>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let streams = self.streams.as_ref().ok_or_else(|| {
            Error::invalid(
                "backend",
                "commands need persistent streams; this client's backend has none",
            )
        })?;
        let sender = Sender {
            service: self.service,
            command,
            codec: self.codec,
            source: self.source.as_deref(),
            headers: self.headers(command)?,
            propagate: self.propagate,
        };
        send_command(streams, &self.bus, sender, &self.command_options, payload).await
    }

    /// Calls `method` on `rpc.{service}.{method}` with `params` and decodes the result,
    /// retrying per the retry policy.
    ///
    /// The whole call, retries and their delays included, ends by one deadline: the timeout
    /// from now, or the [deadline in force](crate::current_deadline) if that is earlier (a
    /// handler's caller gives up then). Each attempt's request carries the time remaining as
    /// its `timeout`; a retry whose delay would reach the deadline is not made, and the last
    /// attempt's error is returned at once.
    pub async fn call<P, R>(&self, method: &str, exclusive: bool, params: &P) -> Result<R>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let Some(metrics) = &self.metrics else {
            return self.call_with_retries(method, exclusive, params).await;
        };
        let started = Instant::now();
        let outcome = self.call_with_retries(method, exclusive, params).await;
        metrics.call(method, outcome.as_ref().map(drop), started.elapsed());
        outcome
    }

    async fn call_with_retries<P, R>(&self, method: &str, exclusive: bool, params: &P) -> Result<R>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let now = Instant::now();
        let mut deadline = now.checked_add(self.timeout);
        if let Some(inherited) = crate::current_deadline() {
            deadline = Some(deadline.map_or(inherited, |own| own.min(inherited)));
        }
        let budget = Budget {
            // A timeout too long for a deadline never ends.
            deadline,
            total: deadline.map_or(self.timeout, |d| d.saturating_duration_since(now)),
        };
        let policy = match (&self.retry, exclusive) {
            (Some(policy), _) => policy.clone(),
            (None, true) => RetryPolicy::default(),
            (None, false) => return self.attempt(method, params, &budget).await,
        };
        let mut retry = 0;
        loop {
            let outcome = self.attempt(method, params, &budget).await;
            let retryable = match &outcome {
                Err(Error::NoResponders { .. }) => true,
                Err(Error::NotActive { .. }) => exclusive,
                _ => false,
            };
            retry += 1;
            if !retryable || retry >= policy.max_attempts {
                return outcome;
            }
            let delay = policy.delay(retry);
            // Waiting past the deadline could only end in a timeout.
            if budget.remaining() <= delay {
                return outcome;
            }
            tracing::debug!(method, retry, "retrying");
            if let Some(metrics) = &self.metrics {
                metrics.retry(method);
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// One attempt, in its own `client` span: the request carries that span's context.
    async fn attempt<P, R>(&self, method: &str, params: &P, budget: &Budget) -> Result<R>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let span = tracing::debug_span!(
            "rpc.client",
            service = self.service,
            method,
            "otel.name" = format_args!("{}/{method}", self.service),
            "otel.kind" = "client",
            "rpc.system" = "aegis",
            "rpc.service" = self.service,
            "rpc.method" = method,
            "messaging.system" = "nats",
            "otel.status_code" = tracing::field::Empty,
            "error.type" = tracing::field::Empty,
            "rpc.response.status_code" = tracing::field::Empty,
        );
        let outcome = self
            .call_once(method, params, budget)
            .instrument(span.clone())
            .await;
        if let Err(error) = &outcome {
            propagation::record_call_failure(&span, error);
        }
        outcome
    }

    async fn call_once<P, R>(&self, method: &str, params: &P, budget: &Budget) -> Result<R>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let timeout = budget.remaining();
        if timeout.is_zero() {
            return Err(Error::Timeout {
                subject: rpc_subject(self.service, method),
                after: budget.total,
            });
        }
        let mut headers = self.headers(method)?;
        // The envelope's `trace_id` is the W3C trace's, so that logs on both sides match.
        let trace_id = propagation::inject(&mut headers, self.propagate).trace_id_hex();
        let (message_id, timestamp) = (Id::new(), Timestamp::now());
        let request = OutgoingRequest {
            message_id: message_id.as_str(),
            trace_id: trace_id.as_str(),
            correlation_id: None,
            timestamp: timestamp.as_str(),
            source: self.source.as_deref(),
            target: self.service,
            method,
            params,
            timeout: timeout.as_secs_f64(),
        };
        let payload = self.codec.encode(&request)?;
        let payload = bytes::Bytes::from(payload);
        let Some(routing) = &self.routing else {
            let reply = self
                .send(rpc_subject(self.service, method), payload, headers, budget)
                .await?;
            return decode_reply(&reply, || rpc_subject(self.service, method));
        };
        let (discovery, selector) = match &**routing {
            Routing::Discovered {
                discovery,
                selector,
            } => (discovery, selector),
            Routing::Pinned(instance) => {
                let subject = || instance_subject(self.service, method, instance);
                let reply = self.send(subject(), payload, headers, budget).await?;
                return decode_reply(&reply, subject);
            }
        };
        // An instance that vanished since discovery answered: forget the cached answer and
        // choose again, once.
        for attempt in 0..2 {
            let instances = discovery.discover(self.service, true).await?;
            let Some(instance) = selector.select(&instances) else {
                return Err(Error::NoResponders {
                    subject: format!(
                        "{} (no healthy instance of `{}`)",
                        rpc_subject(self.service, method),
                        self.service
                    ),
                });
            };
            // A Python instance subscribes only the service's queue group: it was picked, but
            // any instance of the service may answer there.
            let subject = || {
                if instance.is_rust() {
                    instance_subject(self.service, method, &instance.instance_id)
                } else {
                    rpc_subject(self.service, method)
                }
            };
            match self
                .send(subject(), payload.clone(), headers.clone(), budget)
                .await
            {
                Err(Error::NoResponders { .. }) if attempt == 0 => {
                    discovery.invalidate(self.service);
                }
                result => return decode_reply(&result?, subject),
            }
        }
        Err(Error::NoResponders {
            subject: rpc_subject(self.service, method),
        })
    }

    async fn send(
        &self,
        subject: String,
        payload: bytes::Bytes,
        headers: Headers,
        budget: &Budget,
    ) -> Result<Message> {
        let message = Message {
            subject,
            reply: None,
            headers,
            payload,
        };
        match self.bus.request(message, budget.remaining()).await {
            // Name the call's whole timeout, not what was left of it for this attempt.
            Err(Error::Timeout { subject, .. }) => Err(Error::Timeout {
                subject,
                after: budget.total,
            }),
            result => result,
        }
    }
}

/// When one call, all its attempts included, must end.
struct Budget {
    /// `None`: never (a timeout too long to add to now).
    deadline: Option<Instant>,
    /// From the start of the call to the deadline.
    total: Duration,
}

impl Budget {
    fn remaining(&self) -> Duration {
        self.deadline
            .map_or(self.total, |d| d.saturating_duration_since(Instant::now()))
    }
}

/// Decodes a reply envelope (from aegis or Python) into `R` or the matching [`Error`]; a
/// reply that cannot be decoded is [`Error::Decode`] naming `subject()`, the request's
/// subject (built only then).
pub(crate) fn decode_reply<R: DeserializeOwned>(
    reply: &Message,
    subject: impl FnOnce() -> String,
) -> Result<R> {
    let codec = Codec::detect(&reply.payload);
    let typed: Result<IncomingResponse<R>> = codec.decode(&reply.payload);
    match typed {
        Ok(response) if response.success => {
            // A result type loose enough to hold Python's nested NOT_ACTIVE (a JSON value,
            // say) decodes it as a success: look for the marker before believing it.
            if contains(&reply.payload, b"NOT_ACTIVE")
                && let Ok(loose) = codec.decode::<RpcResponse<serde_json::Value>>(&reply.payload)
                && let Some(nested) = loose.result.as_ref().and_then(nested_not_active)
            {
                return Err(nested);
            }
            match response.result {
                Some(result) => Ok(result),
                None => from_null()
                    .map_err(|e| Error::decode(subject(), format!("the result is null: {e}"))),
            }
        }
        Ok(response) => Err(remote_error(reply, response.error.as_deref())),
        Err(typed_error) => {
            // The result did not fit `R`: a failure, or Python's nested NOT_ACTIVE form.
            let loose: RpcResponse<serde_json::Value> = match codec.decode(&reply.payload) {
                Ok(loose) => loose,
                Err(error) => {
                    let codec = match codec {
                        Codec::MsgPack => "MessagePack",
                        Codec::Json => "JSON",
                    };
                    let message = format!("not a {codec} envelope: {}", decoder_message(error));
                    return Err(Error::decode(subject(), message));
                }
            };
            if !loose.success {
                return Err(remote_error(reply, loose.error.as_deref()));
            }
            if let Some(nested) = loose.result.as_ref().and_then(nested_not_active) {
                return Err(nested);
            }
            Err(Error::decode(
                subject(),
                format!(
                    "the result does not fit the expected type: {}",
                    decoder_message(typed_error)
                ),
            ))
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// Python's `SingleActiveService` answers standbys with a successful envelope whose result is
/// `{"success": false, "error": "NOT_ACTIVE", "message": ...}`.
fn nested_not_active(result: &serde_json::Value) -> Option<Error> {
    let map = result.as_object()?;
    let failed = map.get("success")?.as_bool() == Some(false);
    let error = map.get("error")?.as_str()?;
    (failed && error.contains("NOT_ACTIVE")).then(|| Error::NotActive {
        message: map
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or(error)
            .to_owned(),
    })
}

/// Maps an error reply to an [`Error`]: the code from the header when present, else from the
/// `"{NAME}: message"` prefix, else 500 with the whole string (Python's `str(exception)`).
fn remote_error(reply: &Message, error: Option<&str>) -> Error {
    let header_code = reply
        .headers
        .get(ERROR_CODE_HEADER)
        .and_then(|c| c.parse::<u16>().ok());
    Error::from_remote(header_code, error.unwrap_or("unknown error"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: serde_json::Value) -> Message {
        Message::new("_INBOX.x", rmp_serde::to_vec(&body).expect("msgpack"))
    }

    #[test]
    fn pythons_nested_not_active_is_an_error_whatever_the_result_type() {
        let nested = reply(serde_json::json!({
            "message_id": "m", "trace_id": "t", "correlation_id": "c",
            "timestamp": "2026-11-26T23:47:11.105904+00:00", "source": null, "target": null,
            "success": true,
            "result": {"success": false, "result": null, "error": "NOT_ACTIVE",
                       "message": "This instance is not active. Instance x is in STANDBY mode."},
            "error": null
        }));
        for outcome in [
            decode_reply::<serde_json::Value>(&nested, String::new).map(drop),
            decode_reply::<String>(&nested, String::new).map(drop),
        ] {
            match outcome {
                Err(Error::NotActive { message }) => {
                    assert!(message.contains("STANDBY"), "{message}")
                }
                other => panic!("expected NOT_ACTIVE, got {other:?}"),
            }
        }
    }

    #[test]
    fn undecodable_replies_are_decode_errors_naming_the_subject() {
        let misfit = reply(serde_json::json!({"success": true, "result": {"n": "seven"}}));
        let null = reply(serde_json::json!({"success": true, "result": null}));
        let garbage = [
            Message::new("_INBOX.x", b"<html>oops".to_vec()),
            Message::new("_INBOX.x", vec![0xc1, 0x00]),
        ];
        let subject = || String::from("rpc.svc.m");
        for (what, outcome, expected) in [
            (
                "misfit",
                decode_reply::<u32>(&misfit, subject),
                "the result does not fit the expected type: ",
            ),
            (
                "null",
                decode_reply::<u32>(&null, subject),
                "the result is null: ",
            ),
            (
                "JSON garbage",
                decode_reply::<u32>(&garbage[0], subject),
                "not a JSON envelope: ",
            ),
            (
                "MessagePack garbage",
                decode_reply::<u32>(&garbage[1], subject),
                "not a MessagePack envelope: ",
            ),
        ] {
            match outcome {
                Err(Error::Decode { subject, message }) => {
                    assert_eq!(subject, "rpc.svc.m", "{what}");
                    assert!(message.starts_with(expected), "{what}: {message}");
                }
                other => panic!("{what}: expected a decode error, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_outer_not_active_form_is_an_error() {
        let outer = reply(serde_json::json!({
            "success": false, "result": null, "error": "NOT_ACTIVE: standby"
        }));
        assert!(matches!(
            decode_reply::<serde_json::Value>(&outer, String::new),
            Err(Error::NotActive { .. })
        ));
    }
}
