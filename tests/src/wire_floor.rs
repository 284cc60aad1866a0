//! The AegisSDK RPC wire with no framework around it, for `benches/rpc.rs`: what any
//! implementation of the wire contract pays per call. Each way, an envelope with a fresh
//! message id and timestamp, the trace id and the correlation; on the request, the W3C
//! `traceparent` header, which the responder parses. Nothing else: no dispatch, deadline,
//! retries, metrics, spans, panic guard or statistics.

use async_nats::{Client, HeaderMap, HeaderName};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use aegis::TraceContext;
use aegis::domain::envelope::timestamp_now;

const TRACEPARENT: &str = "traceparent";

/// The request envelope, keys in the order aegis and Python write them.
#[derive(Serialize)]
struct Request<'a, P> {
    message_id: &'a str,
    trace_id: &'a str,
    correlation_id: Option<&'a str>,
    timestamp: &'a str,
    source: Option<&'a str>,
    target: &'a str,
    method: &'a str,
    params: &'a P,
    timeout: f64,
}

/// What a responder reads of a request (the rest is skipped).
#[derive(Deserialize)]
struct IncomingRequest<'a, P> {
    #[serde(borrow)]
    message_id: &'a str,
    #[serde(borrow)]
    trace_id: &'a str,
    params: P,
}

/// The response envelope.
#[derive(Serialize)]
struct Response<'a, R> {
    message_id: &'a str,
    trace_id: &'a str,
    correlation_id: Option<&'a str>,
    timestamp: &'a str,
    source: Option<&'a str>,
    target: Option<&'a str>,
    success: bool,
    result: Option<&'a R>,
    error: Option<&'a str>,
}

/// What a caller reads of a response.
#[derive(Deserialize)]
struct IncomingResponse<R> {
    success: bool,
    result: Option<R>,
    error: Option<String>,
}

/// A fresh message id, as aegis and Python write it (UUID v4, hyphenated).
fn message_id() -> [u8; 36] {
    let mut id = [0u8; 36];
    uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id);
    id
}

/// Room for an envelope up front (as aegis's codec does): growing from empty costs copies.
const ENVELOPE_CAPACITY: usize = 256;

fn encode(value: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENVELOPE_CAPACITY);
    rmp_serde::encode::write_named(&mut out, value).expect("encode");
    out
}

/// A trace id as 32 lowercase hex digits, on the stack.
fn trace_id(trace: &TraceContext) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let (mut id, _) = trace.ids();
    let mut out = [0u8; 32];
    for digit in out.iter_mut().rev() {
        *digit = DIGITS[(id & 0xf) as usize];
        id >>= 4;
    }
    out
}

fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("ASCII")
}

/// Calls `method` of `target` on `subject`, starting a trace (named in a `traceparent`
/// header if `traceparent`), and decodes the result.
pub async fn call<P: Serialize, R: DeserializeOwned>(
    client: &Client,
    subject: &'static str,
    target: &str,
    method: &str,
    params: &P,
    traceparent: bool,
) -> R {
    let trace = TraceContext::root();
    let (id, trace_id, timestamp) = (message_id(), trace_id(&trace), timestamp_now());
    let body = encode(&Request {
        message_id: ascii(&id),
        trace_id: ascii(&trace_id),
        correlation_id: None,
        timestamp: &timestamp,
        source: None,
        target,
        method,
        params,
        timeout: 5.0,
    });
    let reply = if traceparent {
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static(TRACEPARENT), trace.traceparent());
        client
            .request_with_headers(subject, headers, body.into())
            .await
    } else {
        client.request(subject, body.into()).await
    }
    .expect("wire request");
    let response: IncomingResponse<R> =
        rmp_serde::from_slice(&reply.payload).expect("decode the response");
    assert!(response.success, "{:?}", response.error);
    response.result.expect("a result")
}

/// Answers requests on `subject` with `handler`'s result, inside the subscription loop (no
/// task per request), until the subscription ends.
pub async fn serve<P, R>(client: Client, subject: &'static str, handler: impl Fn(P) -> R)
where
    P: DeserializeOwned,
    R: Serialize,
{
    let mut requests = client.subscribe(subject).await.expect("subscribe");
    client.flush().await.expect("flush");
    while let Some(request) = requests.next().await {
        let Some(reply) = request.reply else {
            continue;
        };
        // The caller's trace, continued: parsed as a service must.
        let trace = request
            .headers
            .as_ref()
            .and_then(|headers| headers.get(TRACEPARENT))
            .and_then(|parent| TraceContext::from_headers(parent.as_str(), None))
            .map(|parent| parent.child());
        std::hint::black_box(trace);
        let incoming: IncomingRequest<'_, P> =
            rmp_serde::from_slice(&request.payload).expect("decode the request");
        let result = handler(incoming.params);
        let (id, timestamp) = (message_id(), timestamp_now());
        let body = encode(&Response {
            message_id: ascii(&id),
            trace_id: incoming.trace_id,
            correlation_id: Some(incoming.message_id),
            timestamp: &timestamp,
            source: None,
            target: None,
            success: true,
            result: Some(&result),
            error: None,
        });
        let _ = client.publish(reply, body.into()).await;
    }
}
