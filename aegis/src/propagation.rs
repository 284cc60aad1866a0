//! The trace a handler runs in, kept in a task-local, and carried on by every call, event and
//! command sent from it (W3C `traceparent`).

use std::future::Future;

use crate::Error;
use crate::domain::envelope::codes;
use crate::domain::headers::{TRACEPARENT_HEADER, TRACESTATE_HEADER};
use crate::domain::trace::TraceContext;
use crate::ports::Headers;

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// The trace context in force: inside an RPC, event or command handler, the handler's own
/// span; inside [`within_trace`], the one it set. `None` elsewhere, including in tasks a
/// handler spawns: task-locals do not cross `tokio::spawn`.
pub fn current_trace() -> Option<TraceContext> {
    CURRENT.try_with(TraceContext::clone).ok()
}

/// Runs `future` in `trace`: the calls, events and commands sent inside it continue that
/// trace. Handlers run in theirs already; use this for work they spawn:
///
/// ```
/// fn spawn_audit(ctx: &aegis::RequestContext) {
///     let trace = ctx.trace().clone();
///     tokio::spawn(aegis::within_trace(trace, async move {
///         // Calls made here belong to the request's trace.
///     }));
/// }
/// ```
pub fn within_trace<F: Future>(trace: TraceContext, future: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(trace, future)
}

/// The trace an incoming message continues: a child of the span its `traceparent` names, or
/// the root of a new trace when it has none (or an invalid one).
pub(crate) fn incoming(headers: &Headers) -> TraceContext {
    headers
        .get(TRACEPARENT_HEADER)
        .and_then(|parent| TraceContext::from_headers(parent, headers.get(TRACESTATE_HEADER)))
        .map_or_else(TraceContext::root, |parent| parent.child())
}

/// Joins a handler's `span` to `trace` (the context [`incoming`] gave) and records the ids
/// on it as `trace_id` and `span_id`; with the `otel` feature, the span's OpenTelemetry ids
/// become the trace's. Returns the context the handler runs in.
pub(crate) fn enter(span: &tracing::Span, trace: TraceContext) -> TraceContext {
    if span.is_disabled() {
        return trace;
    }
    #[cfg(feature = "otel")]
    let trace = crate::otel::adopt(span, trace);
    span.record("trace_id", tracing::field::display(trace.trace_id()));
    span.record("span_id", tracing::field::display(trace.span_id()));
    trace
}

/// Marks a handler's or a call's span as failed with `code`: OpenTelemetry's error status,
/// `error.type` (the code's name) and `rpc.response.status_code` (fields it declares).
pub(crate) fn record_failure(span: &tracing::Span, code: u16) {
    if span.is_disabled() {
        return;
    }
    span.record("otel.status_code", "ERROR");
    span.record("error.type", tracing::field::display(codes::name(code)));
    span.record("rpc.response.status_code", code);
}

/// Marks a client call's span as failed with `error`: its remote code when it has one, else
/// the kind of failure (`timeout`, `no_responders`, ...) as `error.type`.
pub(crate) fn record_call_failure(span: &tracing::Span, error: &Error) {
    let kind = match error {
        Error::Remote { code, .. } => return record_failure(span, *code),
        Error::BadRequest { .. } => return record_failure(span, codes::BAD_REQUEST),
        Error::NotActive { .. } => return record_failure(span, codes::NOT_ACTIVE),
        Error::NoResponders { .. } => "no_responders",
        Error::Timeout { .. } => "timeout",
        Error::Decode { .. } => "decode",
        Error::PermissionDenied { .. } => "permission_denied",
        Error::Invalid { .. } => "invalid",
        Error::Conflict { .. } => "conflict",
        Error::NotFound { .. } => "not_found",
        Error::Closed(_) => "closed",
        Error::Transport(_) => "transport",
    };
    if !span.is_disabled() {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", kind);
    }
}

/// Sets the `traceparent` (and `tracestate`) of an outgoing message to the span in force
/// (with the `otel` feature, the current `tracing` span's, when OpenTelemetry sees it), or to
/// a new trace outside any; a `traceparent` already set (by the caller's own header) is
/// kept. Returns the context the message names. Without `propagate`, sets nothing and
/// returns that context all the same (its trace id goes into the envelope).
pub(crate) fn inject(headers: &mut Headers, propagate: bool) -> TraceContext {
    if let Some(given) = headers
        .get(TRACEPARENT_HEADER)
        .and_then(|parent| TraceContext::from_headers(parent, headers.get(TRACESTATE_HEADER)))
    {
        return given;
    }
    #[cfg(feature = "otel")]
    let trace = crate::otel::current().or_else(current_trace);
    #[cfg(not(feature = "otel"))]
    let trace = current_trace();
    let trace = trace.unwrap_or_else(TraceContext::root);
    if !propagate {
        return trace;
    }
    headers.insert_static(TRACEPARENT_HEADER, trace.traceparent());
    if let Some(state) = trace.tracestate() {
        headers.insert_static(TRACESTATE_HEADER, state);
    }
    trace
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_sent_in_a_trace_continue_it() {
        let handler = TraceContext::root();
        let (header, sent, spawned) = within_trace(handler.clone(), async {
            let mut headers = Headers::new();
            let sent = inject(&mut headers, true);
            let spawned = tokio::spawn(async { current_trace() })
                .await
                .expect("joins");
            (
                headers.get(TRACEPARENT_HEADER).map(str::to_owned),
                sent,
                spawned,
            )
        })
        .await;
        let header = header.expect("a traceparent");
        assert_eq!(header, handler.traceparent());
        assert_eq!(sent, handler);
        assert_eq!(spawned, None);

        // The receiver's span is a child of the sender's.
        let mut headers = Headers::new();
        headers.insert(TRACEPARENT_HEADER, header);
        let received = incoming(&headers);
        assert_eq!(received.trace_id(), handler.trace_id());
        assert_eq!(received.parent_span_id(), Some(handler.span_id()));
    }

    #[test]
    fn a_traceparent_already_set_is_kept_and_outside_a_trace_one_starts() {
        let mut headers = Headers::new();
        let root = inject(&mut headers, true);
        assert_eq!(headers.get(TRACEPARENT_HEADER), Some(&*root.traceparent()));
        let again = inject(&mut headers, true);
        assert_eq!(again, root);
        assert_eq!(headers.iter().count(), 1);
        let mut quiet = Headers::new();
        inject(&mut quiet, false);
        assert!(quiet.is_empty());
        assert_ne!(incoming(&Headers::new()).trace_id(), root.trace_id());
    }
}
