//! Commands: work for a service, run once by one of its instances, with progress and a result.
//!
//! A command is the AegisSDK `Command` envelope on `commands.{service}.{command}`, stored in
//! the `COMMANDS` work-queue stream until an instance has run it. Progress and the outcome
//! go straight to the caller (core NATS, on the subject named by the `Aegis-Reply-To`
//! header), never into the stream.

pub(crate) mod sender;
pub(crate) mod worker;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::watch;

use crate::InstanceId;
use crate::codec::Codec;
use crate::domain::envelope::{CommandEnvelope, empty_map};
use crate::handler::{HandlerOutput, IntoRpcError, Payload, Reply, RpcError};
use crate::ports::{Headers, Message, MessageBus};

pub use crate::commands::sender::{CommandHandle, CommandOptions, CommandUpdate, Progress};

/// Asks `service` to cancel the command `command_id`, from anywhere (the id is
/// [`CommandHandle::id`], or [`CommandContext::command_id`] on the worker side). A running
/// handler is dropped; a waiting command does not run; its caller gets a 499 outcome.
pub async fn cancel(
    backend: &crate::Backend,
    service: &str,
    command_id: &str,
) -> crate::Result<()> {
    crate::domain::names::validate_service_name(service)?;
    crate::commands::sender::cancel_command(backend.bus(), service, command_id).await
}
pub use crate::commands::worker::CommandConfig;
pub use crate::domain::envelope::Priority;

pub use crate::domain::headers::REPLY_TO_HEADER;

/// What a `#[command]` handler knows about the command it runs, and how it reports progress
/// and notices cancellation.
#[derive(Clone)]
pub struct CommandContext {
    pub(crate) command_id: String,
    pub(crate) trace_id: String,
    pub(crate) source: Option<String>,
    pub(crate) command: &'static str,
    pub(crate) instance_id: InstanceId,
    pub(crate) priority: Priority,
    pub(crate) attempt: u64,
    pub(crate) max_retries: u32,
    pub(crate) deadline: Instant,
    pub(crate) headers: Headers,
    pub(crate) reporter: Option<Arc<Reporter>>,
    pub(crate) cancelled: watch::Receiver<bool>,
}

impl fmt::Debug for CommandContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandContext")
            .field("command_id", &self.command_id)
            .field("command", &self.command)
            .field("priority", &self.priority)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// Sends progress to the caller.
pub(crate) struct Reporter {
    pub(crate) bus: Arc<dyn MessageBus>,
    pub(crate) reply_to: String,
    pub(crate) codec: Codec,
}

/// A progress message on the wire (the Python SDK's keys, plus `message`).
#[derive(Serialize)]
struct ProgressMessage<'a> {
    command_id: &'a str,
    progress: f64,
    status: &'static str,
    timestamp: f64,
    message: &'a str,
}

impl CommandContext {
    /// The command's id (its envelope's `message_id`).
    pub fn command_id(&self) -> &str {
        &self.command_id
    }

    /// The command's `trace_id`.
    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// Who sent it, when it said.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The command name.
    pub fn command(&self) -> &'static str {
        self.command
    }

    /// The id of the instance running it.
    pub fn instance_id(&self) -> &InstanceId {
        &self.instance_id
    }

    /// Its priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// Which attempt this is: 1 the first time, up to `max_retries + 1`.
    pub fn attempt(&self) -> u64 {
        self.attempt
    }

    /// Retries allowed after the first attempt.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// When this attempt is cancelled for taking too long (the command's `timeout`).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The W3C `traceparent` header, if the sender set one.
    pub fn traceparent(&self) -> Option<&str> {
        self.headers
            .get(crate::domain::envelope::TRACEPARENT_HEADER)
    }

    /// Tells the caller how far along the command is (`percent` in 0..=100). Best effort:
    /// progress of a caller that went away is dropped.
    pub async fn progress(&self, percent: f64, message: impl AsRef<str>) {
        let Some(reporter) = &self.reporter else {
            return;
        };
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let body = ProgressMessage {
            command_id: &self.command_id,
            progress: percent.clamp(0.0, 100.0),
            status: "processing",
            timestamp,
            message: message.as_ref(),
        };
        let Ok(payload) = reporter.codec.encode(&body) else {
            return;
        };
        let message = Message::new(reporter.reply_to.clone(), payload);
        if let Err(error) = reporter.bus.publish(message).await {
            tracing::debug!(command = self.command, %error, "progress not delivered");
        }
    }

    /// Whether the caller asked to cancel this command.
    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.borrow()
    }

    /// Resolves once the caller asks to cancel this command. The handler is dropped at its
    /// next await point anyway; use this to stop cleanly in between.
    pub async fn cancelled(&self) {
        let mut cancelled = self.cancelled.clone();
        let _ = cancelled.wait_for(|c| *c).await;
    }
}

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
        let context = self.context.take().expect("a command call is decoded once");
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

/// Runs a command handler until its deadline or its cancellation, catching panics.
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
    crate::handler::run_bounded(budget, Some(cancelled), handler)
}

/// A zero-length command timeout would cancel every handler at once.
pub(crate) fn command_timeout(seconds: f64, cap: Duration) -> Duration {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .map_or(cap, |d| d.min(cap))
}
