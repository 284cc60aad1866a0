//! The RPC envelopes as the hot path writes and reads them: the same keys, in the same order,
//! as [`RpcRequest`](super::envelope::RpcRequest) and
//! [`RpcResponse`](super::envelope::RpcResponse), but borrowing instead of allocating, and
//! skipping the fields nobody reads.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// A fresh UUIDv4, formatted on the stack.
pub(crate) struct Id([u8; 36]);

impl Id {
    pub(crate) fn new() -> Self {
        let mut buffer = [0u8; 36];
        uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
        Id(buffer)
    }

    pub(crate) fn as_str(&self) -> &str {
        // `encode_lower` writes ASCII hex digits and hyphens only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Now, as Python's `isoformat()` writes it.
pub(crate) struct Timestamp(String);

impl Timestamp {
    pub(crate) fn now() -> Self {
        Timestamp(super::envelope::timestamp_now())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// An RPC request as a client sends it.
#[derive(Serialize)]
pub(crate) struct OutgoingRequest<'a, P: ?Sized> {
    pub(crate) message_id: &'a str,
    pub(crate) trace_id: &'a str,
    pub(crate) correlation_id: Option<&'a str>,
    pub(crate) timestamp: &'a str,
    pub(crate) source: Option<&'a str>,
    pub(crate) target: &'a str,
    pub(crate) method: &'a str,
    pub(crate) params: &'a P,
    pub(crate) timeout: f64,
}

/// An RPC request as a service reads it: only what dispatch needs, borrowed where possible.
/// The other base fields (`correlation_id`, `timestamp`, `target`) are skipped unread.
#[derive(Deserialize)]
pub(crate) struct IncomingRequest<'a, P> {
    #[serde(default, borrow)]
    pub(crate) message_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) trace_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) source: Option<Cow<'a, str>>,
    /// Python requires it; its value is not used (dispatch is by subject).
    #[allow(dead_code)]
    pub(crate) method: serde::de::IgnoredAny,
    #[serde(default = "Option::default")]
    pub(crate) params: Option<P>,
    #[serde(default)]
    pub(crate) timeout: Option<f64>,
}

/// An RPC response as a service sends it.
#[derive(Serialize)]
pub(crate) struct OutgoingResponse<'a, R: ?Sized> {
    pub(crate) message_id: &'a str,
    pub(crate) trace_id: &'a str,
    pub(crate) correlation_id: Option<&'a str>,
    pub(crate) timestamp: &'a str,
    pub(crate) source: Option<&'a str>,
    pub(crate) target: Option<&'a str>,
    pub(crate) success: bool,
    pub(crate) result: Option<&'a R>,
    pub(crate) error: Option<&'a str>,
}

/// An event as a publisher sends it (the keys of the public `EventEnvelope`, in order).
#[derive(Serialize)]
pub(crate) struct OutgoingEvent<'a, P: ?Sized> {
    pub(crate) message_id: &'a str,
    pub(crate) trace_id: &'a str,
    pub(crate) correlation_id: Option<&'a str>,
    pub(crate) timestamp: &'a str,
    pub(crate) source: Option<&'a str>,
    pub(crate) target: Option<&'a str>,
    pub(crate) domain: &'a str,
    pub(crate) event_type: &'a str,
    pub(crate) payload: &'a P,
    pub(crate) version: &'a str,
}

/// A command as a client sends it (the keys of the public `CommandEnvelope`, in order).
#[derive(Serialize)]
pub(crate) struct OutgoingCommand<'a, P: ?Sized> {
    pub(crate) message_id: &'a str,
    pub(crate) trace_id: &'a str,
    pub(crate) correlation_id: Option<&'a str>,
    pub(crate) timestamp: &'a str,
    pub(crate) source: Option<&'a str>,
    pub(crate) target: Option<&'a str>,
    pub(crate) command: &'a str,
    pub(crate) payload: &'a P,
    pub(crate) priority: super::envelope::Priority,
    pub(crate) max_retries: u32,
    pub(crate) timeout: f64,
}

/// An RPC response as a client reads it: the outcome only.
#[derive(Deserialize)]
pub(crate) struct IncomingResponse<R> {
    #[serde(default = "yes")]
    pub(crate) success: bool,
    #[serde(default = "Option::default")]
    pub(crate) result: Option<R>,
    #[serde(default)]
    pub(crate) error: Option<String>,
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Codec;
    use crate::domain::envelope::{RpcRequest, RpcResponse};

    #[test]
    fn the_borrowed_envelopes_encode_exactly_like_the_public_ones() {
        let params = serde_json::json!({"message": "hi"});
        let borrowed = OutgoingRequest {
            message_id: "m-1",
            trace_id: "t-1",
            correlation_id: None,
            timestamp: "2026-11-26T23:47:11.104917+00:00",
            source: Some("client-1"),
            target: "echo-service",
            method: "echo",
            params: &params,
            timeout: 5.0,
        };
        let owned = RpcRequest {
            message_id: "m-1".into(),
            trace_id: "t-1".into(),
            correlation_id: None,
            timestamp: "2026-11-26T23:47:11.104917+00:00".into(),
            source: Some("client-1".into()),
            target: Some("echo-service".into()),
            method: "echo".into(),
            params: Some(params.clone()),
            timeout: 5.0,
        };
        let response = OutgoingResponse {
            message_id: "m-2",
            trace_id: "t-1",
            correlation_id: Some("m-1"),
            timestamp: "2026-11-26T23:47:11.104917+00:00",
            source: None,
            target: None,
            success: true,
            result: Some(&params),
            error: None,
        };
        let mut owned_response =
            RpcResponse::ok(Some("m-1".into()), Some("t-1".into()), params.clone());
        owned_response.message_id = "m-2".into();
        owned_response.timestamp = "2026-11-26T23:47:11.104917+00:00".into();
        for codec in [Codec::MsgPack, Codec::Json] {
            assert_eq!(codec.encode(&borrowed).ok(), codec.encode(&owned).ok());
            assert_eq!(
                codec.encode(&response).ok(),
                codec.encode(&owned_response).ok()
            );
        }
    }

    #[test]
    fn ids_are_uuid_v4_text() {
        let id = Id::new();
        let parsed = uuid::Uuid::parse_str(id.as_str()).expect("a uuid");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(id.as_str().len(), 36);
    }
}
