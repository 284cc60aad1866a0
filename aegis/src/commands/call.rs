//! The plumbing generated `#[command]` code calls: one delivery not yet decoded, the
//! handler's outcome and completion message, the bounded, cancellable run.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use crate::codec::Codec;
use crate::commands::context::CommandContext;
use crate::domain::envelope::{CommandEnvelope, empty_map};
use crate::handler::{HandlerOutput, IntoRpcError, Payload, Reply, RpcError};

/// One `#[command]` handler, as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// The command name on the wire (`commands.{service}.{name}`).
    pub name: &'static str,
}

impl CommandSpec {
    /// A command called `name`.
    pub const fn new(name: &'static str) -> Self {
        CommandSpec { name }
    }
}

/// One delivery of a command, not yet decoded. Used by generated code.
pub struct CommandCall {
    pub(crate) payload: Bytes,
    pub(crate) codec: Codec,
    pub(crate) command_id: String,
    pub(crate) context: Option<CommandContext>,
}

impl fmt::Debug for CommandCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandCall")
            .field("codec", &self.codec)
            .field("len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// How one attempt of a command ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutcome {
    /// Done: the completion message for the caller (with the result), in the command's codec.
    Completed(Bytes),
    /// Failed: retried while attempts remain if the code is 5xx; 4xx errors are final.
    Failed(RpcError),
    /// The caller cancelled it.
    Cancelled,
}

/// The completion message on the wire.
#[derive(Serialize)]
pub(crate) struct CompletionMessage<'a, R: ?Sized> {
    pub(crate) command_id: &'a str,
    pub(crate) status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<&'a R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<u16>,
}

impl CommandCall {
    /// Decodes the payload; on failure, the outcome to report (400, not retried).
    pub fn decode<P: Payload>(&mut self) -> Result<(CommandContext, P), CommandOutcome> {
        // Generated code decodes once; a second decode is a bug reported as one, not a panic.
        let Some(context) = self.context.take() else {
            return Err(CommandOutcome::Failed(RpcError::internal(
                "a command call was decoded twice",
            )));
        };
        let envelope: CommandEnvelope<P> = match self.codec.decode(&self.payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                return Err(CommandOutcome::Failed(RpcError::bad_request(format!(
                    "cannot decode command `{}`: {error}",
                    context.command
                ))));
            }
        };
        let payload = match envelope.payload {
            Some(payload) => payload,
            None => empty_map().map_err(|error| {
                CommandOutcome::Failed(RpcError::bad_request(format!(
                    "cannot decode the payload of `{}`: {error}",
                    context.command
                )))
            })?,
        };
        Ok((context, payload))
    }

    /// The outcome of the handler's output.
    pub fn finish<R>(&self, output: Result<R, crate::handler::HandlerFailure>) -> CommandOutcome
    where
        R: HandlerOutput,
        R::Ok: Reply,
        R::Err: IntoRpcError,
    {
        match output {
            Ok(output) => match output.into_result() {
                Ok(value) => match self.codec.encode(&CompletionMessage {
                    command_id: &self.command_id,
                    status: "completed",
                    result: Some(&value),
                    error: None,
                    code: None,
                }) {
                    Ok(bytes) => CommandOutcome::Completed(bytes.into()),
                    Err(error) => CommandOutcome::Failed(RpcError::internal(format!(
                        "cannot encode the result: {error}"
                    ))),
                },
                Err(error) => CommandOutcome::Failed(error.into_rpc_error()),
            },
            Err(crate::handler::HandlerFailure::Cancelled) => CommandOutcome::Cancelled,
            Err(failure) => CommandOutcome::Failed(failure.into_rpc_error("command")),
        }
    }

    /// The outcome for a command the service does not have.
    pub fn unknown(&self, command: &str) -> CommandOutcome {
        CommandOutcome::Failed(RpcError::not_found(format!("unknown command `{command}`")))
    }
}

/// Runs a command handler until its deadline or its cancellation, catching panics; the calls
/// it makes inherit its deadline.
///
/// Returns an opaque `Send` future, so a non-`Send` handler is reported once, here.
pub fn guard_command<'a, F>(
    context: &CommandContext,
    handler: F,
) -> impl std::future::Future<Output = Result<F::Output, crate::handler::HandlerFailure>> + Send + 'a
where
    F: std::future::Future + Send + 'a,
{
    let budget = context.deadline.saturating_duration_since(Instant::now());
    let cancelled = context.cancelled.clone();
    let handler = crate::rpc::deadline::within_deadline(context.deadline, handler);
    let handler = crate::propagation::within_trace(context.trace.clone(), handler);
    crate::handler::run_bounded(budget, Some(cancelled), handler)
}

/// A zero-length command timeout would cancel every handler at once.
pub(crate) fn command_timeout(seconds: f64, cap: Duration) -> Duration {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .map_or(cap, |d| d.min(cap))
}
