//! The caller's side of commands: send, follow progress, get the outcome, cancel.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::StreamExt;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::codec::{Codec, decoder_message};
use crate::domain::envelope::{Priority, TRACEPARENT_HEADER, codes};
use crate::domain::headers::REPLY_TO_HEADER;
use crate::domain::subject::{
    COMMANDS_STREAM, COMMANDS_SUBJECTS, cancel_subject, command_reply_subject, command_subject,
    python_callback_subject, python_progress_subject,
};
use crate::domain::wire::{Id, OutgoingCommand, Timestamp};
use crate::ports::{Headers, MSG_ID_HEADER, Message, MessageBus, Streams, Subscription};
use crate::propagation;
use crate::{Error, Result};

/// The `COMMANDS` stream as the Python SDK creates it (work queue, 10,000 messages).
pub(crate) fn commands_stream() -> crate::ports::StreamConfig {
    crate::ports::StreamConfig {
        name: COMMANDS_STREAM.into(),
        subjects: vec![COMMANDS_SUBJECTS.into()],
        retention: crate::ports::Retention::WorkQueue,
        max_msgs: 10_000,
        duplicate_window: Duration::from_secs(120),
    }
}

/// How a command is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOptions {
    pub(crate) priority: Priority,
    pub(crate) max_retries: u32,
    pub(crate) timeout: Duration,
    pub(crate) traceparent: Option<Arc<str>>,
    pub(crate) python_reports: bool,
}

impl Default for CommandOptions {
    fn default() -> Self {
        CommandOptions {
            priority: Priority::Normal,
            max_retries: 3,
            timeout: Duration::from_secs(300),
            traceparent: None,
            python_reports: true,
        }
    }
}

impl CommandOptions {
    /// The Python SDK's defaults: normal priority, 3 retries, 300 s per attempt; listening
    /// for a Python worker's reports too.
    pub fn new() -> Self {
        Self::default()
    }

    /// Among waiting commands, higher priorities run first.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Attempts after the first one, for failures worth retrying (5xx errors, timeouts,
    /// panics). At most 100.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries.min(100);
        self
    }

    /// How long one attempt may run.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether the handle also listens where a Python AegisSDK worker reports
    /// (`commands.progress.{id}`, `commands.callback.{id}`; on by default). Off, a caller
    /// needs no subscribe permission beyond `_INBOX.>`, and hears aegis workers only.
    pub fn python_reports(mut self, listen: bool) -> Self {
        self.python_reports = listen;
        self
    }

    /// Sends `traceparent` (W3C) with the command, so that its handler joins the caller's
    /// trace (`CommandContext::traceparent`).
    pub fn traceparent(mut self, traceparent: impl Into<Arc<str>>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }
}

/// Progress reported by a running command.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// How far along, 0..=100.
    pub percent: f64,
    /// What the handler said.
    pub message: String,
}

/// One step of a command, as [`CommandHandle::next`] yields them.
#[derive(Debug)]
pub enum CommandUpdate<R> {
    /// The handler reported progress.
    Progress(Progress),
    /// An attempt failed and the command will run again: what went wrong.
    Retrying(String),
    /// The command ended: its result, or why not.
    Finished(Result<R>),
}

/// What the worker sends to the caller (progress or outcome).
#[derive(Deserialize)]
struct ReplyMessage<R> {
    #[serde(default)]
    status: String,
    #[serde(default)]
    progress: Option<f64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default = "Option::default")]
    result: Option<R>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    code: Option<u16>,
}

impl ReplyMessage<IgnoredAny> {
    /// The same report without its (unread) result.
    fn without_result<R>(self) -> ReplyMessage<R> {
        ReplyMessage {
            status: self.status,
            progress: self.progress,
            message: self.message,
            result: None,
            error: self.error,
            code: self.code,
        }
    }
}

/// A command on its way: its progress and, once, its outcome.
///
/// The outcome arrives once even if the command ran more than once (say its worker died
/// after finishing it, before acknowledging it): the first one wins. Dropping the handle
/// stops listening; the command still runs.
pub struct CommandHandle<R> {
    id: String,
    service: &'static str,
    command: &'static str,
    bus: Arc<dyn MessageBus>,
    replies: tokio::sync::mpsc::Receiver<Message>,
    finished: bool,
    result: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for CommandHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandHandle")
            .field("id", &self.id)
            .field("service", &self.service)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned> CommandHandle<R> {
    /// The command's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The next progress report or the outcome; `None` after the outcome. (The handle is
    /// also a `Stream` of the same updates.)
    pub async fn next(&mut self) -> Option<CommandUpdate<R>> {
        std::future::poll_fn(|cx| self.poll_update(cx)).await
    }

    fn poll_update(&mut self, cx: &mut Context<'_>) -> Poll<Option<CommandUpdate<R>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        loop {
            let Some(message) = ready!(self.replies.poll_recv(cx)) else {
                self.finished = true;
                return Poll::Ready(Some(CommandUpdate::Finished(Err(Error::Closed(format!(
                    "the reply subscription of command {} ended",
                    self.id
                ))))));
            };
            let codec = Codec::detect(&message.payload);
            let reply: ReplyMessage<R> = match codec.decode(&message.payload) {
                Ok(reply) => reply,
                Err(error) => match codec.decode::<ReplyMessage<IgnoredAny>>(&message.payload) {
                    // The outcome arrived, but its result does not fit `R`.
                    Ok(loose) if loose.status == "completed" => {
                        self.finished = true;
                        return Poll::Ready(Some(CommandUpdate::Finished(Err(self.decode_error(
                            format!(
                                "the result does not fit the expected type: {}",
                                decoder_message(error)
                            ),
                        )))));
                    }
                    // Only `completed` carries a result.
                    Ok(loose) => loose.without_result(),
                    // Not a report of this command at all (a stray message on its subjects):
                    // the outcome may still come.
                    Err(error) => {
                        tracing::warn!(command = %self.id, %error, "undecodable command reply");
                        continue;
                    }
                },
            };
            let outcome = match reply.status.as_str() {
                "retrying" => {
                    return Poll::Ready(Some(CommandUpdate::Retrying(
                        reply.error.unwrap_or_default(),
                    )));
                }
                "processing" => {
                    return Poll::Ready(Some(CommandUpdate::Progress(Progress {
                        percent: reply.progress.unwrap_or_default(),
                        message: reply.message.unwrap_or_default(),
                    })));
                }
                "completed" => match reply.result {
                    Some(result) => Ok(result),
                    // A unit-like result may be encoded as nil.
                    None => crate::domain::envelope::from_null::<R>()
                        .map_err(|e| self.decode_error(format!("the result is null: {e}"))),
                },
                "cancelled" => Err(Error::from_remote(
                    Some(codes::CANCELLED),
                    reply.error.as_deref().unwrap_or("cancelled"),
                )),
                status => Err(Error::from_remote(
                    reply.code,
                    reply.error.as_deref().unwrap_or(status),
                )),
            };
            self.finished = true;
            return Poll::Ready(Some(CommandUpdate::Finished(outcome)));
        }
    }

    /// The outcome of an attempt whose result cannot be decoded.
    fn decode_error(&self, message: String) -> Error {
        Error::decode(
            command_subject(self.service, self.command),
            format!("command {}: {message}", self.id),
        )
    }

    /// Waits for the outcome, skipping progress. There is no time limit here: a command
    /// waits in the stream until a worker takes it; wrap this in `tokio::time::timeout` to
    /// stop waiting (the command still runs).
    pub async fn result(mut self) -> Result<R> {
        while let Some(update) = self.next().await {
            if let CommandUpdate::Finished(outcome) = update {
                return outcome;
            }
        }
        Err(Error::Closed(format!(
            "the outcome of command {} was already taken",
            self.id
        )))
    }

    /// Asks the service to cancel the command: a running handler is dropped, a waiting
    /// command is not run. The outcome then reports a cancellation (code 499), unless the
    /// command finished first.
    pub async fn cancel(&self) -> Result<()> {
        cancel_command(&self.bus, self.service, &self.id).await
    }
}

impl<R: DeserializeOwned> futures::Stream for CommandHandle<R> {
    type Item = CommandUpdate<R>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_update(cx)
    }
}

/// Asks `service` to cancel the command `command_id`, from anywhere (the id is
/// [`CommandHandle::id`], or [`CommandContext::command_id`](crate::CommandContext::command_id) on the worker side). A running
/// handler is dropped; a waiting command does not run; its caller gets a 499 outcome.
pub async fn cancel(
    backend: &crate::Backend,
    service: &str,
    command_id: &str,
) -> crate::Result<()> {
    crate::domain::names::validate_service_name(service)?;
    cancel_command(backend.bus(), service, command_id).await
}

/// Asks `service` to cancel command `command_id` (sent by anyone): see
/// [`CommandHandle::cancel`]. Instances remember a cancel for a command they have not seen
/// for 10 minutes.
pub(crate) async fn cancel_command(
    bus: &Arc<dyn MessageBus>,
    service: &str,
    command_id: &str,
) -> Result<()> {
    crate::domain::subject::validate_subject_token("command id", command_id)?;
    let subject = cancel_subject(service, command_id);
    bus.publish(Message::new(subject, Vec::new())).await
}

/// Who a command goes to and how it is written.
#[derive(Debug, Clone)]
pub(crate) struct Sender<'a> {
    pub(crate) service: &'static str,
    pub(crate) command: &'static str,
    pub(crate) codec: Codec,
    /// The envelope's `source`.
    pub(crate) source: Option<&'a str>,
    /// The client's own headers (see [`crate::middleware::Interceptor`]).
    pub(crate) headers: Headers,
    /// Whether the command carries `traceparent`.
    pub(crate) propagate: bool,
}

/// Hands the command's replies to its handle, confirming each outcome as it arrives (the
/// worker sends an outcome as a request, and again until confirmed), whether or not the
/// handle is being read: a caller that collects its outcomes later must not hold up the
/// workers. Ends, unsubscribing, when the handle is dropped.
///
/// `replies` may include the subjects a Python AegisSDK worker reports on
/// (`commands.progress.{id}`, `commands.callback.{id}`); `COMMANDS` stores those, so they
/// are purged after the outcome.
fn listen(
    bus: Arc<dyn MessageBus>,
    streams: Arc<dyn Streams>,
    replies: Vec<Subscription>,
    command_id: String,
) -> tokio::sync::mpsc::Receiver<Message> {
    let (sender, receiver) = tokio::sync::mpsc::channel(REPLIES_BUFFERED);
    let callback = python_callback_subject(&command_id);
    let mut replies = futures::stream::select_all(replies);
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                message = replies.next() => message,
                () = sender.closed() => return,
            };
            let Some(message) = message else { return };
            if let Some(confirm) = message.reply.clone() {
                let _ = bus
                    .publish(Message::new(confirm, bytes::Bytes::new()))
                    .await;
            }
            if message.subject == callback {
                tokio::spawn(purge_python_reports(
                    Arc::clone(&streams),
                    command_id.clone(),
                ));
            }
            if sender.send(message).await.is_err() {
                return;
            }
        }
    });
    receiver
}

/// How long after a Python worker's outcome its reports are purged from `COMMANDS`: they
/// reach subscribers before the stream has stored them.
const PYTHON_PURGE_DELAY: Duration = Duration::from_secs(1);

/// Removes a command's Python-style reports from `COMMANDS` (the Python SDK leaves them
/// there for ever: its defect C2). Best effort: a caller that exits first leaves them.
async fn purge_python_reports(streams: Arc<dyn Streams>, command_id: String) {
    tokio::time::sleep(PYTHON_PURGE_DELAY).await;
    for subject in [
        python_progress_subject(&command_id),
        python_callback_subject(&command_id),
    ] {
        if let Err(error) = streams.purge_subject(COMMANDS_STREAM, &subject).await {
            tracing::debug!(command = %command_id, %error, "could not purge a command report");
        }
    }
}

/// Replies kept for a handle that is not being read (progress reports, the outcome).
const REPLIES_BUFFERED: usize = 64;

/// Sends one command to `commands.{service}.{command}` and subscribes to its replies
/// (before sending, so that nothing is missed): on its inbox from an Aegis worker, on the
/// Python SDK's subjects from a Python one.
pub(crate) async fn send_command<P: serde::Serialize + ?Sized, R>(
    streams: &Arc<dyn Streams>,
    bus: &Arc<dyn MessageBus>,
    sender: Sender<'_>,
    options: &CommandOptions,
    payload: &P,
) -> Result<CommandHandle<R>> {
    let Sender {
        service,
        command,
        codec,
        source,
        headers: extra,
        propagate,
    } = sender;
    streams.ensure_stream(commands_stream()).await?;
    let (id, timestamp) = (Id::new(), Timestamp::now());
    let mut headers = extra;
    headers.insert(MSG_ID_HEADER, id.as_str());
    if let Some(traceparent) = &options.traceparent
        && headers.get(TRACEPARENT_HEADER).is_none()
    {
        headers.insert(TRACEPARENT_HEADER, &**traceparent);
    }
    let trace_id = propagation::inject(&mut headers, propagate).trace_id();
    let reply_to = command_reply_subject(id.as_str());
    let mut subscriptions = vec![bus.subscribe(&reply_to, None).await?];
    if options.python_reports {
        // Two exact subjects rather than `commands.*.{id}`: a permission on
        // `commands.progress.>` and `commands.callback.>` covers them.
        for subject in [
            python_progress_subject(id.as_str()),
            python_callback_subject(id.as_str()),
        ] {
            subscriptions.push(bus.subscribe(&subject, None).await?);
        }
    }
    let replies = listen(
        Arc::clone(bus),
        Arc::clone(streams),
        subscriptions,
        id.as_str().to_owned(),
    );
    let envelope = OutgoingCommand {
        message_id: id.as_str(),
        trace_id: &trace_id,
        correlation_id: None,
        timestamp: timestamp.as_str(),
        source,
        target: Some(service),
        command,
        payload,
        priority: options.priority,
        max_retries: options.max_retries,
        timeout: options.timeout.as_secs_f64(),
    };
    let body = codec
        .encode(&envelope)
        .map_err(|e| Error::bad_request(format!("cannot encode command `{command}`: {e}")))?;
    headers.insert(REPLY_TO_HEADER, reply_to);
    let message = Message {
        subject: command_subject(service, command),
        reply: None,
        headers,
        payload: body.into(),
    };
    streams.publish(message).await?.await?;
    Ok(CommandHandle {
        id: id.as_str().to_owned(),
        service,
        command,
        bus: Arc::clone(bus),
        replies,
        finished: false,
        result: PhantomData,
    })
}
