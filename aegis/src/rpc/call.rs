//! One request through one handler: decode, run (bounded, panics caught), encode the reply.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use serde::Serialize;
use serde::de::IgnoredAny;

use crate::InstanceId;
use crate::codec::Codec;
use crate::domain::envelope::{
    ERROR_CODE_HEADER, ERROR_HEADER, codes, empty_map, header_value, new_id,
};
use crate::domain::trace::TraceContext;
use crate::domain::wire::{Id, IncomingRequest, OutgoingResponse, Timestamp};
use crate::election::LeaseCheck;
use crate::handler::{
    HandlerFailure, HandlerOutput, IntoRpcError, Payload, RpcError, fenced, panic_message,
};
use crate::ports::Headers;
use crate::propagation::within_trace;
use crate::rpc::context::RequestContext;
use crate::rpc::deadline::within_deadline;
use crate::rpc::layer::Layers;

/// How long after the caller's timeout a handler is cancelled.
const CALLER_GRACE: Duration = Duration::from_millis(100);

/// An incoming request for one method, not yet decoded.
pub struct Call {
    pub(crate) payload: Bytes,
    pub(crate) codec: Codec,
    pub(crate) headers: Headers,
    pub(crate) method: &'static str,
    pub(crate) instance_id: InstanceId,
    pub(crate) handler_timeout: Duration,
    pub(crate) correlation_id: Option<String>,
    /// The request's trace id, carried into the response (Python starts a new one).
    pub(crate) trace_id: Option<String>,
    /// For exclusive methods: the lease the handler runs under.
    pub(crate) lease: Option<LeaseCheck>,
    /// The handler's span of the caller's trace.
    pub(crate) trace: TraceContext,
    /// The service's layers, and where the decoded request's context is kept for their
    /// `after` (the server runs it once the reply is encoded).
    pub(crate) layers: Option<(Layers, Arc<OnceLock<RequestContext>>)>,
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method)
            .field("codec", &self.codec)
            .field("len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// An encoded reply, ready to publish.
#[derive(Debug, Clone)]
pub struct EncodedReply {
    pub(crate) payload: Bytes,
    pub(crate) headers: Headers,
    /// The error, for statistics; `None` on success.
    pub(crate) error: Option<RpcError>,
}

impl Call {
    /// Decodes the envelope and its params as `P`; on failure, the BAD_REQUEST reply to send.
    pub fn decode<P: Payload>(&mut self) -> Result<(RequestContext, P), EncodedReply> {
        let payload = self.payload.clone();
        let request: IncomingRequest<'_, P> = match self.codec.decode_borrowed(&payload) {
            Ok(request) => request,
            Err(error) => {
                // Decode again without params to answer with the right correlation id.
                let correlation = self
                    .codec
                    .decode_borrowed::<IncomingRequest<'_, IgnoredAny>>(&payload)
                    .ok()
                    .and_then(|r| r.message_id)
                    .map(Cow::into_owned);
                self.correlation_id = correlation;
                let message = match error {
                    crate::Error::BadRequest { message } => message,
                    other => other.to_string(),
                };
                return Err(self.error(RpcError::bad_request(format!(
                    "cannot decode request for `{}`: {message}",
                    self.method
                ))));
            }
        };
        // Python gives a missing id a fresh one; so do we.
        let message_id = request.message_id.map_or_else(new_id, Cow::into_owned);
        let trace_id = request.trace_id.map_or_else(new_id, Cow::into_owned);
        self.correlation_id = Some(message_id.clone());
        self.trace_id = Some(trace_id.clone());
        let params = match request.params {
            Some(params) => params,
            None => match empty_map() {
                Ok(params) => params,
                Err(message) => {
                    return Err(self.error(RpcError::bad_request(format!(
                        "cannot decode params for `{}`: {message}",
                        self.method
                    ))));
                }
            },
        };
        // The caller gives up at its own timeout; cancel a little later, so that a slow
        // handler is reported once, as the caller's timeout, not raced by our TIMEOUT reply.
        let now = Instant::now();
        let caller = Duration::try_from_secs_f64(request.timeout.unwrap_or(5.0)).ok();
        let timeout = caller
            .map_or(self.handler_timeout, |caller| {
                caller.saturating_add(CALLER_GRACE)
            })
            .min(self.handler_timeout);
        let deadline = now + timeout;
        // The handler's own calls end when its caller gives up, not a grace later.
        let calls_deadline = caller
            .and_then(|caller| now.checked_add(caller))
            .map_or(deadline, |at| at.min(deadline));
        let context = RequestContext {
            message_id,
            trace_id,
            source: request.source.map(Cow::into_owned),
            method: self.method,
            instance_id: self.instance_id.clone(),
            deadline,
            calls_deadline,
            headers: std::mem::take(&mut self.headers),
            lease: self.lease.take(),
            trace: self.trace.clone(),
        };
        if let Some((_, seen)) = &self.layers {
            let _ = seen.set(context.clone());
        }
        Ok((context, params))
    }

    /// Encodes the handler's outcome as the reply.
    pub fn reply<R>(&self, outcome: Result<R, HandlerFailure>) -> EncodedReply
    where
        R: HandlerOutput,
        R::Ok: crate::handler::Reply,
        R::Err: IntoRpcError,
    {
        match outcome {
            Ok(output) => match output.into_result() {
                Ok(value) => self.success(&value),
                Err(error) => self.error(error.into_rpc_error()),
            },
            Err(failure) => self.failure(failure),
        }
    }

    pub(crate) fn failure(&self, failure: HandlerFailure) -> EncodedReply {
        self.error(failure.into_rpc_error(self.method))
    }

    fn success<T: Serialize>(&self, value: &T) -> EncodedReply {
        let (message_id, timestamp, fresh_trace) = (Id::new(), Timestamp::now(), Id::new());
        let response = OutgoingResponse {
            message_id: message_id.as_str(),
            trace_id: self.trace_id.as_deref().unwrap_or(fresh_trace.as_str()),
            correlation_id: self.correlation_id.as_deref(),
            timestamp: timestamp.as_str(),
            source: None,
            target: None,
            success: true,
            result: Some(value),
            error: None,
        };
        match self.codec.encode(&response) {
            Ok(bytes) => EncodedReply {
                payload: bytes.into(),
                headers: Headers::new(),
                error: None,
            },
            Err(error) => self.error(RpcError::internal(format!(
                "cannot encode the result of `{}`: {error}",
                self.method
            ))),
        }
    }

    pub(crate) fn error(&self, error: RpcError) -> EncodedReply {
        let ids = ReplyIds {
            correlation_id: self.correlation_id.clone(),
            trace_id: self.trace_id.clone(),
        };
        error_reply(self.codec, ids, error)
    }
}

/// The ids a reply carries back: the request's `message_id` (as `correlation_id`) and its
/// `trace_id`, when the request could be read.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplyIds {
    pub(crate) correlation_id: Option<String>,
    pub(crate) trace_id: Option<String>,
}

/// Every error reply is built here: an error response in `codec`, with the code and message
/// also in the NATS micro headers.
pub(crate) fn error_reply(
    codec: Codec,
    ReplyIds {
        correlation_id,
        trace_id,
    }: ReplyIds,
    error: RpcError,
) -> EncodedReply {
    let (message_id, timestamp, fresh_trace) = (Id::new(), Timestamp::now(), Id::new());
    let text = format!("{}: {}", codes::name(error.code()), error.message());
    let response = OutgoingResponse::<()> {
        message_id: message_id.as_str(),
        trace_id: trace_id.as_deref().unwrap_or(fresh_trace.as_str()),
        correlation_id: correlation_id.as_deref(),
        timestamp: timestamp.as_str(),
        source: None,
        target: None,
        success: false,
        result: None,
        error: Some(&text),
    };
    // Encoding a response made of strings cannot fail; keep a valid reply regardless.
    let payload = codec
        .encode(&response)
        .unwrap_or_else(|_| br#"{"success":false,"error":"INTERNAL: encode failed"}"#.to_vec());
    let mut headers = Headers::new();
    headers.insert(ERROR_CODE_HEADER, error.code().to_string());
    headers.insert(ERROR_HEADER, header_value(error.message()));
    EncodedReply {
        payload: payload.into(),
        headers,
        error: Some(error),
    }
}

/// Runs a handler future until the request's deadline, catching panics, with the caller's
/// deadline in force for the calls it makes (see [`within_deadline`]); an exclusive handler
/// is also stopped as soon as its lease is no longer valid, checked before every poll, so that
/// a deposed leader (paused past its deadline, say) runs no more of it. The service's layers
/// run first, under the same bounds; one that refuses, refuses the call.
///
/// Returns an opaque `Send` future, so a non-`Send` handler is reported once, here.
pub fn guard<'a, F>(
    call: &Call,
    context: &RequestContext,
    handler: F,
) -> impl Future<Output = Result<F::Output, HandlerFailure>> + Send + 'a
where
    F: Future + Send + 'a,
{
    let budget = context.deadline.saturating_duration_since(Instant::now());
    let lease = context.lease.clone();
    // The layers see a copy of the context: the handler borrows the caller's.
    let layers = call
        .layers
        .as_ref()
        .map(|(layers, _)| (layers.clone(), context.clone()));
    let handler = within_deadline(context.calls_deadline, async move {
        if let Some((layers, context)) = layers {
            layers.before(&context).await?;
        }
        Ok(handler.await)
    });
    let handler = within_trace(context.trace.clone(), handler);
    async move {
        let handler = AssertUnwindSafe(handler).catch_unwind();
        let outcome = match lease {
            None => tokio::time::timeout(budget, handler).await.ok(),
            Some(lease) => match tokio::time::timeout(budget, fenced(handler, lease)).await {
                Ok(Some(outcome)) => Some(outcome),
                Ok(None) => return Err(HandlerFailure::Fenced),
                Err(_) => None,
            },
        };
        match outcome {
            Some(Ok(Ok(output))) => Ok(output),
            Some(Ok(Err(refusal))) => Err(HandlerFailure::Refused(refusal)),
            Some(Err(panic)) => Err(HandlerFailure::Panicked(panic_message(&*panic))),
            None => Err(HandlerFailure::TimedOut(budget)),
        }
    }
}
