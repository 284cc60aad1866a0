//! The AegisSDK envelopes, field for field (see `docs/wire-protocol.md`).
//!
//! Python peers reject unknown keys, so these structs carry exactly the reference's fields,
//! in the reference's order. Every field has a default on decode, as in Python, except the
//! ones Python requires (`method`, `domain`, `event_type`, `command`).

use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Deserializer, Serialize};

/// Error code names used in the `error` string (`"{NAME}: {message}"`) and their numeric codes
/// (the `Nats-Service-Error-Code` header).
pub mod codes {
    /// The request could not be decoded or validated.
    pub const BAD_REQUEST: u16 = 400;
    /// The caller did not prove who it is (a layer wants credentials).
    pub const UNAUTHORIZED: u16 = 401;
    /// The caller may not do this.
    pub const FORBIDDEN: u16 = 403;
    /// No such method.
    pub const NOT_FOUND: u16 = 404;
    /// The payload exceeds the server's limit.
    pub const PAYLOAD_TOO_LARGE: u16 = 413;
    /// The handler failed (returned an error or panicked).
    pub const INTERNAL: u16 = 500;
    /// The handler called another service and could not decode its reply.
    pub const BAD_GATEWAY: u16 = 502;
    /// This instance is a standby; the active instance must be asked.
    pub const NOT_ACTIVE: u16 = 503;
    /// The handler ran out of time.
    pub const TIMEOUT: u16 = 504;
    /// The caller cancelled the work (commands).
    pub const CANCELLED: u16 = 499;

    /// The symbolic name of `code` used as the prefix of the envelope's `error` string.
    pub fn name(code: u16) -> std::borrow::Cow<'static, str> {
        match code {
            BAD_REQUEST => "BAD_REQUEST".into(),
            UNAUTHORIZED => "UNAUTHORIZED".into(),
            FORBIDDEN => "FORBIDDEN".into(),
            NOT_FOUND => "NOT_FOUND".into(),
            PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE".into(),
            INTERNAL => "INTERNAL".into(),
            BAD_GATEWAY => "BAD_GATEWAY".into(),
            NOT_ACTIVE => "NOT_ACTIVE".into(),
            TIMEOUT => "TIMEOUT".into(),
            CANCELLED => "CANCELLED".into(),
            other => format!("ERROR_{other}").into(),
        }
    }

    /// The numeric code for a symbolic name produced by [`name`].
    pub fn from_name(name: &str) -> Option<u16> {
        Some(match name {
            "BAD_REQUEST" => BAD_REQUEST,
            "UNAUTHORIZED" => UNAUTHORIZED,
            "FORBIDDEN" => FORBIDDEN,
            "NOT_FOUND" => NOT_FOUND,
            "PAYLOAD_TOO_LARGE" => PAYLOAD_TOO_LARGE,
            "INTERNAL" => INTERNAL,
            "BAD_GATEWAY" => BAD_GATEWAY,
            "NOT_ACTIVE" => NOT_ACTIVE,
            "TIMEOUT" => TIMEOUT,
            "CANCELLED" => CANCELLED,
            other => return other.strip_prefix("ERROR_")?.parse().ok(),
        })
    }
}

pub use super::headers::{ERROR_CODE_HEADER, ERROR_HEADER, TRACEPARENT_HEADER};

/// `text` fit for a header value: NATS headers cannot hold line breaks, so each `\r` or
/// `\n` becomes a space (the full text travels in the body).
pub(crate) fn header_value(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['\r', '\n']) {
        text.replace(['\r', '\n'], " ").into()
    } else {
        text.into()
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An ISO-8601 UTC timestamp with microseconds and `+00:00`, as Python's `isoformat()`.
pub fn timestamp_now() -> String {
    format_timestamp(std::time::SystemTime::now())
}

/// Formats `at` like Python's `datetime.isoformat()` for an aware UTC datetime, always with
/// microseconds: `2026-11-26T23:47:11.104917+00:00`. Written by hand: it runs twice per RPC.
pub fn format_timestamp(at: std::time::SystemTime) -> String {
    fn push(out: &mut String, value: u32, width: usize) {
        let mut digits = [b'0'; 10];
        let mut v = value;
        for slot in digits[..width].iter_mut().rev() {
            *slot = b'0' + u8::try_from(v % 10).unwrap_or(0);
            v /= 10;
        }
        out.extend(digits[..width].iter().map(|&b| char::from(b)));
    }
    let at = time::OffsetDateTime::from(at);
    let mut out = String::with_capacity(32);
    push(&mut out, u32::try_from(at.year()).unwrap_or(0), 4);
    out.push('-');
    push(&mut out, u32::from(u8::from(at.month())), 2);
    out.push('-');
    push(&mut out, u32::from(at.day()), 2);
    out.push('T');
    push(&mut out, u32::from(at.hour()), 2);
    out.push(':');
    push(&mut out, u32::from(at.minute()), 2);
    out.push(':');
    push(&mut out, u32::from(at.second()), 2);
    out.push('.');
    push(&mut out, at.microsecond(), 6);
    out.push_str("+00:00");
    out
}

/// Declares an envelope struct: the base fields of Python's `Message` (in its order), then
/// the struct's own fields. Written out rather than `#[serde(flatten)]`, which buffers every
/// field on decode and would sit on the RPC hot path.
macro_rules! envelope {
    (
        $(#[$meta:meta])*
        pub struct $name:ident<$param:ident> { $($body:tt)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $name<$param> {
            /// Unique id of this message (UUIDv4).
            #[serde(default = "new_id")]
            pub message_id: String,
            /// Trace id (UUIDv4).
            #[serde(default = "new_id")]
            pub trace_id: String,
            /// For replies: the `message_id` of the request.
            #[serde(default)]
            pub correlation_id: Option<String>,
            /// ISO-8601 creation time.
            #[serde(default = "timestamp_now")]
            pub timestamp: String,
            /// Sender (instance id or service), if known.
            #[serde(default)]
            pub source: Option<String>,
            /// Intended receiver (service name for RPC), if any.
            #[serde(default)]
            pub target: Option<String>,
            $($body)*
        }
    };
}

/// Deserializes a missing or absent params/payload map as if it were `{}`.
pub(crate) fn empty_map<T: DeserializeOwned>() -> Result<T, serde::de::value::Error> {
    let empty = std::iter::empty::<(String, ())>();
    T::deserialize(serde::de::value::MapDeserializer::new(empty))
}

fn params_or_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer)
}

envelope! {
/// An RPC request: base fields plus `method`, `params`, `timeout`.
pub struct RpcRequest<P> {
    /// Method name (the server dispatches by subject, not by this field).
    pub method: String,
    /// Parameters; Python requires a map.
    #[serde(
        default = "Option::default",
        deserialize_with = "deserialize_some",
        bound(deserialize = "P: Deserialize<'de>")
    )]
    pub params: Option<P>,
    /// Seconds the caller waits.
    #[serde(default = "default_rpc_timeout")]
    pub timeout: f64,
}
}

fn default_rpc_timeout() -> f64 {
    5.0
}

fn deserialize_some<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    params_or_empty(deserializer).map(Some)
}

impl<P: DeserializeOwned> RpcRequest<P> {
    /// The params, or `P` decoded from `{}` when the request had none.
    pub fn take_params(&mut self) -> Result<P, String> {
        match self.params.take() {
            Some(p) => Ok(p),
            None => empty_map().map_err(|e| e.to_string()),
        }
    }
}

envelope! {
/// An RPC response: base fields plus `success`, `result`, `error`.
///
/// Invariant (Python enforces it on decode): `success` ⇔ `error` is `None`.
pub struct RpcResponse<R> {
    /// Whether the call succeeded.
    #[serde(default = "default_true")]
    pub success: bool,
    /// The handler's result (`null` on failure).
    #[serde(default = "Option::default", bound(deserialize = "R: Deserialize<'de>"))]
    pub result: Option<R>,
    /// `"{CODE_NAME}: {message}"` on failure.
    #[serde(default)]
    pub error: Option<String>,
}
}

fn default_true() -> bool {
    true
}

impl<R> RpcResponse<R> {
    /// A successful response to the request `correlation_id`, in its trace (a new trace id
    /// when `trace_id` is `None`).
    pub fn ok(correlation_id: Option<String>, trace_id: Option<String>, result: R) -> Self {
        RpcResponse {
            message_id: new_id(),
            trace_id: trace_id.unwrap_or_else(new_id),
            correlation_id,
            timestamp: timestamp_now(),
            source: None,
            target: None,
            success: true,
            result: Some(result),
            error: None,
        }
    }

    /// A failed response to the request `correlation_id`, in its trace.
    pub fn err(
        correlation_id: Option<String>,
        trace_id: Option<String>,
        code: u16,
        message: &str,
    ) -> Self {
        RpcResponse {
            message_id: new_id(),
            trace_id: trace_id.unwrap_or_else(new_id),
            correlation_id,
            timestamp: timestamp_now(),
            source: None,
            target: None,
            success: false,
            result: None,
            error: Some(format!("{}: {message}", codes::name(code))),
        }
    }
}

envelope! {
/// An event: base fields plus `domain`, `event_type`, `payload`, `version`.
pub struct EventEnvelope<P> {
    /// Domain (second subject token).
    pub domain: String,
    /// Event type (rest of the subject; may contain dots).
    pub event_type: String,
    /// Payload map.
    #[serde(
        default = "Option::default",
        deserialize_with = "deserialize_some",
        bound(deserialize = "P: Deserialize<'de>")
    )]
    pub payload: Option<P>,
    /// Schema version, `^\d+\.\d+(\.\d+)?$`.
    #[serde(default = "default_event_version")]
    pub version: String,
}
}

fn default_event_version() -> String {
    String::from("1.0")
}

/// Command priority, lowercase on the wire.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Runs after everything else.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Runs before normal commands.
    High,
    /// Runs first.
    Critical,
}

envelope! {
/// A command: base fields plus `command`, `payload`, `priority`, `max_retries`, `timeout`.
pub struct CommandEnvelope<P> {
    /// Command name.
    pub command: String,
    /// Payload map.
    #[serde(
        default = "Option::default",
        deserialize_with = "deserialize_some",
        bound(deserialize = "P: Deserialize<'de>")
    )]
    pub payload: Option<P>,
    /// Dispatch priority.
    #[serde(default)]
    pub priority: Priority,
    /// Retries after the first attempt.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Seconds the handler may run.
    #[serde(default = "default_command_timeout")]
    pub timeout: f64,
}
}

fn default_max_retries() -> u32 {
    3
}

fn default_command_timeout() -> f64 {
    300.0
}

/// Decodes `()` from `null`, for replies whose result is unit.
pub(crate) fn from_null<T: DeserializeOwned>() -> Result<T, serde::de::value::Error> {
    T::deserialize(().into_deserializer())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn timestamps_match_python_isoformat() {
        // datetime.fromtimestamp(1795736831.104917, UTC).isoformat()
        let at = UNIX_EPOCH + Duration::from_micros(1_795_736_831_104_917);
        assert_eq!(format_timestamp(at), "2026-11-26T23:47:11.104917+00:00");
        assert_eq!(
            format_timestamp(UNIX_EPOCH),
            "1970-01-01T00:00:00.000000+00:00"
        );
    }
}
