//! What every handler kind (RPC, event, command) shares: the error it returns, the output
//! and payload bounds, and the kernel that runs it (bounded, panics caught, fenced).

use std::any::Any;
use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt;

use crate::Error;
use crate::domain::envelope::codes;
use crate::election::LeaseCheck;

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

    /// 401: the caller must say who it is (a missing or invalid credential).
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(codes::UNAUTHORIZED, message)
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(codes::FORBIDDEN, message)
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
/// Implemented for [`RpcError`], [`Error`], strings and boxed errors, and with the `anyhow`
/// feature for `anyhow::Error`; implement it for your own error types to choose the code
/// (the default for foreign errors is 500).
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
            // The handler's own call got a reply it could not read: the upstream's fault.
            decode @ Error::Decode { .. } => RpcError::new(codes::BAD_GATEWAY, decode.to_string()),
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

/// A 500 whose message is the error's whole chain, outermost context first
/// (`format!("{err:#}")`: `"loading order 42: connection refused"`), so no context is lost.
/// Handlers may return `anyhow::Result<T>`. To choose another code, return an [`RpcError`]
/// or map the error with `map_err`.
#[cfg(feature = "anyhow")]
impl IntoRpcError for anyhow::Error {
    fn into_rpc_error(self) -> RpcError {
        RpcError::internal(format!("{self:#}"))
    }
}

impl IntoRpcError for Infallible {
    fn into_rpc_error(self) -> RpcError {
        match self {}
    }
}

/// The return type of a fallible handler: `Result<T, E>` with `T: Serialize` and
/// `E: IntoRpcError`.
///
/// `#[service]` treats a return type written as a path whose last segment is `Result` as
/// fallible, and requires this trait of it; any other return type is a plain value.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Result`, but aegis treats a return type named `Result` as fallible",
    label = "a return type named `Result` must be `Result<T, E>` (or an alias of it)",
    note = "rename the type, or return `Result<T, E>` with `T: serde::Serialize` and `E: aegis::IntoRpcError`"
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
    note = "derive it: `#[derive(serde::Serialize, serde::Deserialize)]` (the generated client deserializes the result)",
    note = "aegis reads a return type as a fallible `Result` only when its last path segment is `Result`; any other type (an alias named `MyResult` too) is the reply itself"
)]
pub trait Reply: serde::Serialize {}

#[diagnostic::do_not_recommend]
impl<T: serde::Serialize + ?Sized> Reply for T {}

/// Why a handler produced no output.
#[derive(Debug)]
pub enum HandlerFailure {
    /// It ran past its deadline.
    TimedOut(Duration),
    /// It panicked.
    Panicked(String),
    /// Its instance stopped being the leader (exclusive handlers only).
    Fenced,
    /// The caller cancelled it (commands only).
    Cancelled,
    /// A [`Layer`](crate::middleware::Layer) refused the call before it ran (RPC only).
    Refused(RpcError),
}

impl HandlerFailure {
    /// The failure as the error reported for handler `name`.
    pub(crate) fn into_rpc_error(self, name: &str) -> RpcError {
        match self {
            HandlerFailure::TimedOut(after) => RpcError::new(
                codes::TIMEOUT,
                format!("handler `{name}` timed out after {after:?}"),
            ),
            HandlerFailure::Panicked(message) => {
                RpcError::internal(format!("handler `{name}` panicked: {message}"))
            }
            HandlerFailure::Fenced => RpcError::new(
                codes::NOT_ACTIVE,
                format!("handler `{name}` stopped: this instance lost the leadership"),
            ),
            HandlerFailure::Cancelled => {
                RpcError::new(codes::CANCELLED, format!("handler `{name}` was cancelled"))
            }
            HandlerFailure::Refused(error) => error,
        }
    }
}

/// Runs `handler` for at most `budget`, catching panics; with `cancel`, it is also dropped
/// as soon as that turns `true`.
pub(crate) async fn run_bounded<F: Future>(
    budget: Duration,
    cancel: Option<tokio::sync::watch::Receiver<bool>>,
    handler: F,
) -> Result<F::Output, HandlerFailure> {
    let handler = AssertUnwindSafe(handler).catch_unwind();
    let cancelled = async move {
        match cancel {
            Some(mut cancel) => {
                // A dropped sender is not a cancellation.
                if cancel.wait_for(|c| *c).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        outcome = tokio::time::timeout(budget, handler) => match outcome {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(panic)) => Err(HandlerFailure::Panicked(panic_message(&*panic))),
            Err(_) => Err(HandlerFailure::TimedOut(budget)),
        },
        () = cancelled => Err(HandlerFailure::Cancelled),
    }
}

/// Polls `handler` only while `lease` is valid; `None` once it is not.
pub(crate) async fn fenced<F: Future>(handler: F, lease: LeaseCheck) -> Option<F::Output> {
    let mut handler = std::pin::pin!(handler);
    let mut wake_at: Option<(Instant, crate::ports::BoxFuture<'static, ()>)> = None;
    std::future::poll_fn(move |cx| {
        use std::task::Poll;
        let Some(until) = lease.valid_until() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(output) = handler.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        // Be woken at the deadline, to stop the handler even if it is idle then.
        if !matches!(&wake_at, Some((at, _)) if *at == until) {
            let wait = until.saturating_duration_since(lease.clock.now());
            wake_at = Some((until, lease.clock.sleep(wait)));
        }
        if let Some((_, timer)) = &mut wake_at
            && timer.as_mut().poll(cx).is_ready()
        {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    })
    .await
}

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("(non-string panic payload)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undecodable_reply_to_a_handlers_own_call_is_a_502() {
        let error = Error::Decode {
            subject: "rpc.stock.count".into(),
            message: "the result does not fit the expected type: invalid type".into(),
        };
        let rpc = error.into_rpc_error();
        assert_eq!(rpc.code(), codes::BAD_GATEWAY);
        assert_eq!(
            rpc.message(),
            "cannot decode the reply of `rpc.stock.count`: the result does not fit the \
             expected type: invalid type"
        );
    }

    #[cfg(feature = "anyhow")]
    #[test]
    fn an_anyhow_error_is_a_500_with_its_whole_chain() {
        use anyhow::Context as _;
        let error = Err::<(), _>(anyhow::anyhow!("connection refused"))
            .context("loading order 42")
            .expect_err("an error");
        let rpc = error.into_rpc_error();
        assert_eq!(rpc.code(), codes::INTERNAL);
        assert_eq!(rpc.message(), "loading order 42: connection refused");
    }
}
