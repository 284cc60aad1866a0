//! What handlers see and return: request context, handler errors, handler outputs.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::time::Instant;

use crate::domain::envelope::codes;
use crate::ports::Headers;
use crate::{Error, InstanceId};

/// An error a handler returns to its caller: a numeric code and a message.
///
/// Codes follow the NATS micro convention (4xx: the caller's fault, 5xx: the service's).
/// On the wire the code travels in the `Nats-Service-Error-Code` header and as the symbolic
/// prefix of the envelope's `error` string (`"NOT_FOUND: no such order"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    code: u16,
    message: Cow<'static, str>,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: u16, message: impl Into<Cow<'static, str>>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// 400: the request was invalid.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(codes::BAD_REQUEST, message)
    }

    /// 404: the requested thing does not exist.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(codes::NOT_FOUND, message)
    }

    /// 500: the handler failed.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(codes::INTERNAL, message)
    }

    /// The numeric code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", codes::name(self.code), self.message)
    }
}

impl std::error::Error for RpcError {}

/// Turns a handler's error type into an [`RpcError`].
///
/// Implemented for [`RpcError`], [`Error`], strings and boxed errors; implement it for your
/// own error types to choose the code (the default for foreign errors is 500).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned as an error from an aegis handler",
    label = "handler error type",
    note = "implement `aegis::IntoRpcError` for `{Self}` (pick a code, e.g. `RpcError::new(404, self.to_string())`), or return `aegis::RpcError`"
)]
pub trait IntoRpcError {
    /// The error as code and message.
    fn into_rpc_error(self) -> RpcError;
}

impl IntoRpcError for RpcError {
    fn into_rpc_error(self) -> RpcError {
        self
    }
}

impl IntoRpcError for Error {
    fn into_rpc_error(self) -> RpcError {
        match self {
            Error::BadRequest { message } => RpcError::bad_request(message),
            Error::Remote { code, message } => RpcError::new(code, message),
            Error::NotActive { message } => RpcError::new(codes::NOT_ACTIVE, message),
            other => RpcError::internal(other.to_string()),
        }
    }
}

impl IntoRpcError for String {
    fn into_rpc_error(self) -> RpcError {
        RpcError::internal(self)
    }
}

impl IntoRpcError for &'static str {
    fn into_rpc_error(self) -> RpcError {
        RpcError::internal(self)
    }
}

impl IntoRpcError for Box<dyn std::error::Error + Send + Sync> {
    fn into_rpc_error(self) -> RpcError {
        RpcError::internal(self.to_string())
    }
}

impl IntoRpcError for Infallible {
    fn into_rpc_error(self) -> RpcError {
        match self {}
    }
}

/// The return type of a handler: `Result<T, E>` with `T: Serialize` and `E: IntoRpcError`.
#[diagnostic::on_unimplemented(
    message = "aegis handlers must return `Result<T, E>`, found `{Self}`",
    label = "not a `Result`",
    note = "`T` must implement `serde::Serialize` and `E` must implement `aegis::IntoRpcError`"
)]
pub trait HandlerOutput {
    /// The success type, sent as the response's `result`.
    type Ok;
    /// The error type.
    type Err;
    /// The output as a `Result`.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
}

impl<T, E> HandlerOutput for Result<T, E> {
    type Ok = T;
    type Err = E;
    fn into_result(self) -> Result<T, E> {
        self
    }
}

/// What a handler knows about the request it serves.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub(crate) message_id: String,
    pub(crate) trace_id: String,
    pub(crate) source: Option<String>,
    pub(crate) method: &'static str,
    pub(crate) instance_id: InstanceId,
    pub(crate) deadline: Instant,
    pub(crate) headers: Headers,
    /// For exclusive handlers: the lease they run under.
    pub(crate) lease: Option<crate::rpc::call::LeaseCheck>,
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
    pub fn deadline(&self) -> Instant {
        self.deadline
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

/// A handler's payload: decoded from the request's `params`.
///
/// Implemented for every `serde::de::DeserializeOwned + Send` type; the generated client also
/// needs `serde::Serialize` to send it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the payload of an aegis handler",
    label = "needs `serde::Deserialize`",
    note = "derive it: `#[derive(serde::Serialize, serde::Deserialize)]` (the generated client serializes the payload)"
)]
pub trait Payload: serde::de::DeserializeOwned + Send + 'static {}

#[diagnostic::do_not_recommend]
impl<T: serde::de::DeserializeOwned + Send + 'static> Payload for T {}

/// A handler's success value: sent as the response's `result`.
///
/// Implemented for every `serde::Serialize` type; the generated client also needs
/// `serde::de::DeserializeOwned` to decode it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of an aegis handler",
    label = "needs `serde::Serialize`",
    note = "derive it: `#[derive(serde::Serialize, serde::Deserialize)]` (the generated client deserializes the result)"
)]
pub trait Reply: serde::Serialize {}

#[diagnostic::do_not_recommend]
impl<T: serde::Serialize + ?Sized> Reply for T {}
