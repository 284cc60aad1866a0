//! What a `#[command]` handler knows about the command it runs; its progress reports.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::watch;

use crate::InstanceId;
use crate::codec::Codec;
use crate::domain::envelope::Priority;
use crate::domain::headers::ROLLUP_HEADER;
use crate::domain::subject::{python_progress_subject, validate_subject_token};
use crate::domain::trace::TraceContext;
use crate::ports::{Headers, Message, MessageBus};

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
    /// The handler's span of the sender's trace.
    pub(crate) trace: TraceContext,
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

/// Where a command's progress and outcome go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReplyRoute {
    /// The `Aegis-Reply-To` subject of an Aegis caller: confirmed outcomes, retry notices.
    Inbox(String),
    /// A command without `Aegis-Reply-To`, as the Python AegisSDK sends them: progress on
    /// `commands.progress.{id}`, the outcome on `commands.callback.{id}`, in its shapes.
    Python,
    /// Nowhere: no reply header, and an id that cannot be a subject token.
    Nowhere,
}

impl ReplyRoute {
    /// The route of a command with `reply_to` (its `Aegis-Reply-To` header) and `command_id`.
    pub(crate) fn of(reply_to: Option<&str>, command_id: &str) -> Self {
        match reply_to {
            Some(reply_to) => ReplyRoute::Inbox(reply_to.to_owned()),
            None if validate_subject_token("command id", command_id).is_ok() => ReplyRoute::Python,
            None => ReplyRoute::Nowhere,
        }
    }
}

/// Sends progress to the caller.
pub(crate) struct Reporter {
    pub(crate) bus: Arc<dyn MessageBus>,
    pub(crate) route: ReplyRoute,
    pub(crate) codec: Codec,
}

/// A progress message on the wire: the Python SDK's keys, plus `message` for Aegis callers.
#[derive(Serialize)]
struct ProgressMessage<'a> {
    command_id: &'a str,
    progress: f64,
    status: &'static str,
    timestamp: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
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

    /// The trace the handler runs in: a child span of the sender's (its `traceparent`), or
    /// a new trace if it sent none.
    pub fn trace(&self) -> &TraceContext {
        &self.trace
    }

    /// The W3C `traceparent` header, if the sender set one.
    pub fn traceparent(&self) -> Option<&str> {
        self.headers
            .get(crate::domain::envelope::TRACEPARENT_HEADER)
    }

    /// All headers of the command message (those the sending client added included).
    pub fn headers(&self) -> &Headers {
        &self.headers
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
        let python = reporter.route == ReplyRoute::Python;
        let body = ProgressMessage {
            command_id: &self.command_id,
            progress: percent.clamp(0.0, 100.0),
            status: "processing",
            timestamp,
            message: (!python).then_some(message.as_ref()),
        };
        let Ok(payload) = reporter.codec.encode(&body) else {
            return;
        };
        let message = match &reporter.route {
            ReplyRoute::Inbox(reply_to) => Message::new(reply_to.clone(), payload),
            // `COMMANDS` captures this subject: keep at most the latest report stored (the
            // outcome purges it).
            ReplyRoute::Python => {
                let mut message = Message::new(python_progress_subject(&self.command_id), payload);
                message.headers.insert(ROLLUP_HEADER, "sub");
                message
            }
            ReplyRoute::Nowhere => return,
        };
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
