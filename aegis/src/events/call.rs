//! The plumbing generated `#[subscribe]` code calls: the handler's argument, one delivery
//! not yet decoded, the handler's outcome, the bounded run.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::codec::Codec;
use crate::domain::envelope::EventEnvelope;
use crate::domain::trace::TraceContext;
use crate::events::event::{Event, SubscriptionMode};
use crate::handler::{HandlerOutput, IntoRpcError, Payload, RpcError};
use crate::ports::Headers;
use crate::propagation::within_trace;
use crate::rpc::deadline::within_deadline;

/// The argument of a `#[subscribe]` handler: [`Event<T>`] for a `T: Deserialize`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the argument of a `#[subscribe]` handler",
    label = "expected `aegis::Event<T>`",
    note = "take the event as `event: aegis::Event<T>` with `T: serde::Deserialize`"
)]
pub trait EventArg: Sized + Send + 'static {
    #[doc(hidden)]
    fn from_call(call: &EventCall) -> Result<Self, String>;
}

// Bound by `Payload` (the same as `DeserializeOwned + Send + 'static`) for its diagnostic: a
// payload that is not `Deserialize` is reported as such, on the handler's argument type.
impl<T: Payload> EventArg for Event<T> {
    fn from_call(call: &EventCall) -> Result<Self, String> {
        let codec = Codec::detect(&call.payload);
        let envelope: EventEnvelope<T> = codec
            .decode(&call.payload)
            .map_err(|error| format!("cannot decode the event: {error}"))?;
        let payload = match envelope.payload {
            Some(payload) => payload,
            None => crate::domain::envelope::empty_map()
                .map_err(|error| format!("cannot decode the event payload: {error}"))?,
        };
        Ok(Event {
            id: envelope.message_id,
            trace_id: envelope.trace_id,
            timestamp: envelope.timestamp,
            source: envelope.source,
            domain: envelope.domain,
            event_type: envelope.event_type,
            version: envelope.version,
            subject: call.subject.clone(),
            delivered: call.delivered,
            headers: call.headers.clone(),
            trace: call.trace.clone(),
            payload,
        })
    }
}

/// One `#[subscribe]` handler, as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// The handler's name (its method name): names its durable consumer.
    pub handler: &'static str,
    /// The pattern after `events.` (`orders.*`).
    pub pattern: &'static str,
    /// Compete or broadcast.
    pub mode: SubscriptionMode,
}

impl SubscriptionSpec {
    /// A subscription of `handler` to `events.{pattern}`.
    pub const fn new(handler: &'static str, pattern: &'static str, mode: SubscriptionMode) -> Self {
        SubscriptionSpec {
            handler,
            pattern,
            mode,
        }
    }
}

/// One delivery for one `#[subscribe]` handler, not yet decoded. Used by generated code.
#[derive(Debug)]
pub struct EventCall {
    pub(crate) subject: String,
    pub(crate) payload: Bytes,
    pub(crate) headers: Headers,
    pub(crate) delivered: u64,
    pub(crate) handler: &'static str,
    pub(crate) timeout: Duration,
    /// The handler's span of the publisher's trace.
    pub(crate) trace: TraceContext,
}

/// How a handler dealt with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// Handled: acknowledge it.
    Handled,
    /// Failed with `error`: retried later if the code is 5xx, dead-lettered at once if 4xx
    /// (the event itself is wrong: retrying cannot help).
    Failed(RpcError),
}

impl EventCall {
    /// Decodes the event for the handler; on failure, the outcome to report (400).
    pub fn decode<A: EventArg>(&self) -> Result<A, EventOutcome> {
        A::from_call(self).map_err(|message| {
            EventOutcome::Failed(RpcError::bad_request(format!(
                "handler `{}`: {message}",
                self.handler
            )))
        })
    }

    /// How long the handler may run.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The outcome of the handler's output.
    pub fn finish<R>(&self, output: Result<R, crate::handler::HandlerFailure>) -> EventOutcome
    where
        R: HandlerOutput<Ok = ()>,
        R::Err: IntoRpcError,
    {
        match output {
            Ok(output) => match output.into_result() {
                Ok(()) => EventOutcome::Handled,
                Err(error) => EventOutcome::Failed(error.into_rpc_error()),
            },
            Err(failure) => EventOutcome::Failed(failure.into_rpc_error(self.handler)),
        }
    }

    /// The outcome for a handler name the service does not have.
    pub fn unknown(&self) -> EventOutcome {
        EventOutcome::Failed(RpcError::internal(format!(
            "no `#[subscribe]` handler named `{}`",
            self.handler
        )))
    }
}

/// Runs an event handler for at most `call`'s timeout, catching panics; the calls it makes
/// inherit that deadline and continue the event's trace.
pub fn guard_event<'a, F>(
    call: &EventCall,
    handler: F,
) -> impl std::future::Future<Output = Result<F::Output, crate::handler::HandlerFailure>> + Send + 'a
where
    F: std::future::Future + Send + 'a,
{
    let handler = match Instant::now().checked_add(call.timeout) {
        Some(deadline) => futures::future::Either::Left(within_deadline(deadline, handler)),
        None => futures::future::Either::Right(handler),
    };
    let handler = within_trace(call.trace.clone(), handler);
    crate::handler::run_bounded(call.timeout, None, handler)
}
