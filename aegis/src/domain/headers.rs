//! Every header name aegis reads or writes.

/// Header carrying the numeric error code (NATS micro convention).
pub const ERROR_CODE_HEADER: &str = "Nats-Service-Error-Code";
/// Header carrying the error message (NATS micro convention).
pub const ERROR_HEADER: &str = "Nats-Service-Error";
/// W3C trace context header: the trace and the sender's span.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// W3C trace context header: vendor data that travels with `traceparent`.
pub const TRACESTATE_HEADER: &str = "tracestate";
/// The header that makes a publish idempotent: a second message with the same id inside the
/// stream's duplicate window is acknowledged but not stored again.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";
/// The header naming where a command's progress and outcome go.
pub const REPLY_TO_HEADER: &str = "Aegis-Reply-To";
/// JetStream's rollup header; `sub` makes a stream that captures the message keep it as the
/// only one of its subject (a stream that does not allow rollups stores nothing).
pub const ROLLUP_HEADER: &str = "Nats-Rollup";
/// Set by the NATS adapter, in place of all headers, on a message whose header block did
/// not parse (its value says why): such a request is answered 400 instead of run.
pub const MALFORMED_HEADERS_HEADER: &str = "Aegis-Malformed-Headers";

/// Dead-letter headers: why the message was given up, and where it came from.
pub mod dead_letter {
    /// The error text.
    pub const REASON: &str = "Aegis-Dead-Letter-Reason";
    /// The numeric error code.
    pub const CODE: &str = "Aegis-Dead-Letter-Code";
    /// The subject it was published on.
    pub const SUBJECT: &str = "Aegis-Dead-Letter-Subject";
    /// The stream and sequence it was stored at.
    pub const STREAM: &str = "Aegis-Dead-Letter-Stream";
    /// Its sequence in that stream.
    pub const SEQUENCE: &str = "Aegis-Dead-Letter-Sequence";
    /// The consumer that gave up.
    pub const CONSUMER: &str = "Aegis-Dead-Letter-Consumer";
    /// How many times it was delivered.
    pub const DELIVERIES: &str = "Aegis-Dead-Letter-Deliveries";
    /// Its original `Nats-Msg-Id`, if any.
    pub const MSG_ID: &str = "Aegis-Dead-Letter-Msg-Id";
}
