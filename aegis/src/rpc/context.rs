//! What an RPC handler knows about the request it serves.

use std::time::Instant;

use crate::InstanceId;
use crate::domain::trace::TraceContext;
use crate::election::LeaseCheck;
use crate::ports::Headers;

/// What a handler knows about the request it serves.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub(crate) message_id: String,
    pub(crate) trace_id: String,
    pub(crate) source: Option<String>,
    pub(crate) method: &'static str,
    pub(crate) instance_id: InstanceId,
    pub(crate) deadline: Instant,
    /// When the caller gives up: the deadline the handler's own calls inherit.
    pub(crate) calls_deadline: Instant,
    pub(crate) headers: Headers,
    /// For exclusive handlers: the lease they run under.
    pub(crate) lease: Option<LeaseCheck>,
    /// The handler's span: a child of the caller's, or the root of a new trace.
    pub(crate) trace: TraceContext,
}

impl RequestContext {
    /// The request's `message_id` (the response's `correlation_id`).
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The request's `trace_id`.
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// The caller, when it said who it is.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The method being served.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The id of the instance serving the request.
    pub fn instance_id(&self) -> &InstanceId {
        &self.instance_id
    }

    /// When the handler is cancelled: shortly (100 ms) after the caller's own timeout, or at
    /// the service's handler timeout if that comes first (then the caller gets a 504 reply).
    ///
    /// Calls the handler makes through generated clients end by the caller's own timeout
    /// (see [`current_deadline`](crate::current_deadline)); in tasks it spawns, only if run
    /// with [`within_deadline`](crate::within_deadline).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The trace the handler runs in: a child span of the caller's (its `traceparent`), or a
    /// new trace if it sent none. Calls, events and commands the handler sends carry it on.
    pub fn trace(&self) -> &TraceContext {
        &self.trace
    }

    /// The W3C `traceparent` header, if the caller sent one.
    pub fn traceparent(&self) -> Option<&str> {
        self.headers
            .get(crate::domain::envelope::TRACEPARENT_HEADER)
    }

    /// For `#[exclusive_rpc]` handlers: the fencing token (the KV revision of the lease this
    /// instance held when the call started). Pass it to the resources you write, so that they
    /// can refuse writes from a deposed leader. `None` for `#[rpc]` handlers.
    pub fn fencing_token(&self) -> Option<u64> {
        self.lease.as_ref().map(|l| l.token)
    }

    /// For `#[exclusive_rpc]` handlers: whether this instance still holds the same lease now
    /// (its local deadline has not passed and it was not lost). Check it right before a side
    /// effect that the fencing token cannot protect. Always `true` for `#[rpc]` handlers.
    pub fn still_leader(&self) -> bool {
        self.lease.as_ref().is_none_or(|l| l.valid())
    }

    /// All request headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }
}
