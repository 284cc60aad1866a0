//! Running `#[command]` handlers: the `COMMANDS` work queue, priority order, keep-alive,
//! retries, cancellation, progress and outcome to the caller.

use std::borrow::Cow;
use std::collections::{BinaryHeap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{FuturesUnordered, SelectAll};
use futures::{FutureExt, StreamExt};
use serde::Deserialize;
use tokio::sync::watch;
use tracing::Instrument;

use crate::backend::Backend;
use crate::codec::Codec;
use crate::commands::call::{CommandCall, CommandOutcome, CompletionMessage, command_timeout};
use crate::commands::context::{CommandContext, ReplyRoute, Reporter};
use crate::commands::sender::commands_stream;
use crate::consumer::{Intake, Runner, Tagged, backoff_delay, stop_intake, stopped};
use crate::dead_letters::{Origin, dead_letter, dead_letter_stream};
use crate::domain::envelope::{Priority, codes, new_id};
use crate::domain::headers::{REPLY_TO_HEADER, ROLLUP_HEADER};
use crate::domain::names::validate_method_name;
use crate::domain::subject::{
    COMMANDS_STREAM, cancel_subject, command_consumer, command_subject, python_callback_subject,
    python_progress_subject,
};
use crate::domain::trace::TraceContext;
use crate::handler::RpcError;
use crate::handler::panic_message;
use crate::ports::{
    AckKind, Acker, ConsumerConfig, Delivery, Message, MessageBus, Metrics, StartAt, Streams,
    Subscription,
};
use crate::propagation;
use crate::service::Service;
use crate::{Error, InstanceId, Result};

/// How a service runs commands.
#[derive(Debug, Clone)]
pub struct CommandConfig {
    pub(crate) max_concurrency: usize,
    pub(crate) prefetch: usize,
    pub(crate) ack_wait: Duration,
    pub(crate) backoff: Vec<Duration>,
    pub(crate) max_timeout: Duration,
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig {
            max_concurrency: 16,
            prefetch: 16,
            ack_wait: Duration::from_secs(30),
            backoff: vec![
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(15),
                Duration::from_secs(30),
            ],
            max_timeout: Duration::from_secs(3600),
        }
    }
}

impl CommandConfig {
    /// Defaults: 16 commands at once, 16 more waiting in priority order, ack wait 30 s,
    /// backoff 1 s, 5 s, 15 s, 30 s, command timeouts capped at one hour.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `n` commands run at once in this instance.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// How many commands this instance holds waiting beyond those running; among them,
    /// the highest priority runs first (then the oldest).
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = n;
        self
    }

    /// How long a command may go without a sign of life before another instance gets it.
    /// Held and running commands are kept alive every third of it, so this is also about
    /// how long a crashed instance's commands wait before they run elsewhere.
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait.max(Duration::from_millis(300));
        self
    }

    /// The delay before each retry after a failure: the first entry after the first
    /// failure, and so on; the last entry repeats.
    pub fn backoff(mut self, delays: impl IntoIterator<Item = Duration>) -> Self {
        self.backoff = delays.into_iter().collect();
        self
    }

    /// The longest any command may run, whatever its own `timeout` says.
    pub fn max_timeout(mut self, max: Duration) -> Self {
        self.max_timeout = max;
        self
    }
}

/// How long a cancel request is remembered for a command not seen yet.
const CANCEL_MEMORY: Duration = Duration::from_secs(600);
/// How long an outcome is sent again while the caller's inbox is unknown (see `deliver`).
const OUTCOME_PATIENCE: Duration = Duration::from_secs(5);
/// How long a caller has to confirm an outcome.
const OUTCOME_CONFIRMATION: Duration = Duration::from_millis(250);
/// How long the stream has to answer a Python-style outcome before its reports are purged.
const PYTHON_OUTCOME_STORED: Duration = Duration::from_secs(1);
/// At most this many remembered cancel requests.
const CANCEL_MEMORY_MAX: usize = 10_000;

/// What dispatch reads of a command before running it; the payload is decoded later, by
/// the handler's own type.
#[derive(Deserialize)]
struct CommandHead<'a> {
    #[serde(default, borrow)]
    message_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    trace_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    source: Option<Cow<'a, str>>,
    #[serde(default)]
    priority: Priority,
    #[serde(default = "default_max_retries")]
    max_retries: u32,
    #[serde(default = "default_timeout")]
    timeout: f64,
}

fn default_max_retries() -> u32 {
    3
}

fn default_timeout() -> f64 {
    300.0
}

/// A command held by this instance, waiting for a free slot.
struct Waiting {
    index: usize,
    delivery: Delivery,
    command_id: String,
    trace_id: String,
    source: Option<String>,
    priority: Priority,
    max_retries: u32,
    timeout: Duration,
    codec: Codec,
    route: ReplyRoute,
}

impl Waiting {
    /// Highest priority first, then the oldest (lowest stream sequence).
    fn rank(&self) -> (Priority, std::cmp::Reverse<u64>) {
        (
            self.priority,
            std::cmp::Reverse(self.delivery.info.stream_sequence),
        )
    }
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        self.rank() == other.rank()
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

/// A running command, as the loop tracks it.
struct Running {
    cancel: watch::Sender<bool>,
    acker: Arc<dyn Acker>,
}

/// The command handlers of one service instance.
pub(crate) struct CommandRunner<S> {
    service: Arc<S>,
    streams: Arc<dyn Streams>,
    bus: Arc<dyn MessageBus>,
    metrics: Arc<dyn Metrics>,
    config: CommandConfig,
    drain_timeout: Duration,
    instance_id: InstanceId,
    /// How many commands wait in this instance (for `ServiceHandle::commands_waiting`).
    waiting: Arc<AtomicUsize>,
    /// Per command: its name and consumer name.
    commands: Vec<(&'static str, String)>,
}

impl<S: Service> CommandRunner<S> {
    /// Binds every `#[command]` of `S` to its work-queue consumer; `None` without any.
    pub(crate) async fn start(
        service: &Arc<S>,
        backend: &Backend,
        instance_id: &InstanceId,
        waiting: &Arc<AtomicUsize>,
        config: &CommandConfig,
        drain_timeout: Duration,
    ) -> Result<Option<Runner>> {
        let specs = S::__commands();
        if specs.is_empty() {
            return Ok(None);
        }
        let streams = Arc::clone(backend.streams()?);
        streams.ensure_stream(commands_stream()).await?;
        streams.ensure_stream(dead_letter_stream()).await?;
        let bus = Arc::clone(backend.bus());
        // Cancel requests reach every instance: the one running (or holding) the command acts.
        let cancels = bus.subscribe(&cancel_subject(S::NAME, "*"), None).await?;
        let mut intake: Intake = SelectAll::new();
        let mut commands = Vec::new();
        for (index, spec) in specs.into_iter().enumerate() {
            validate_method_name(spec.name)?;
            let name = command_consumer(S::NAME, spec.name);
            let consumer = ConsumerConfig {
                fetch_ahead: config.prefetch.max(1),
                name: name.clone(),
                filter_subject: command_subject(S::NAME, spec.name),
                start: StartAt::First,
                ack_wait: config.ack_wait,
                max_ack_pending: 1000,
                inactive_threshold: None,
            };
            let deliveries = streams.consume(COMMANDS_STREAM, consumer).await?;
            intake.push(Tagged { index, deliveries });
            commands.push((spec.name, name));
        }
        let runner = Arc::new(CommandRunner {
            service: Arc::clone(service),
            streams,
            bus,
            metrics: Arc::clone(backend.metrics()),
            config: config.clone(),
            drain_timeout,
            instance_id: instance_id.clone(),
            waiting: Arc::clone(waiting),
            commands,
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(runner.run(intake, cancels, stopped));
        Ok(Some(Runner { stop, task }))
    }

    async fn run(
        self: Arc<Self>,
        mut intake: Intake,
        mut cancels: Subscription,
        stop: watch::Receiver<bool>,
    ) {
        let mut waiting = BinaryHeap::new();
        let mut running: HashMap<String, Running> = HashMap::new();
        let mut tasks = FuturesUnordered::new();
        let mut cancelled: HashMap<String, Instant> = HashMap::new();
        let period = (self.config.ack_wait / 3).max(Duration::from_millis(50));
        let mut keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let mut stopped = std::pin::pin!(stopped(stop));
        loop {
            let room = waiting.len() < self.config.prefetch.max(1);
            tokio::select! {
                biased;
                () = &mut stopped => break,
                Some(id) = tasks.next(), if !tasks.is_empty() => {
                    running.remove(&id);
                }
                _ = keep_alive.tick() => {
                    for held in waiting.iter().map(|w: &Waiting| w.delivery.acker()).chain(running.values().map(|r| Arc::clone(&r.acker))) {
                        let _ = held.settle(AckKind::Progress).await;
                    }
                }
                Some(message) = cancels.next() => {
                    let Some(id) = message.subject.rsplit('.').next().map(str::to_owned) else { continue };
                    if let Some(run) = running.get(&id) {
                        let _ = run.cancel.send(true);
                    } else {
                        remember(&mut cancelled, id);
                    }
                }
                next = intake.next(), if room => match next {
                    Some((index, Ok(delivery))) => {
                        self.hold(&mut waiting, &mut running, index, delivery).await;
                        // Whatever else is already here competes on priority too.
                        while waiting.len() < self.config.prefetch.max(1) {
                            match intake.next().now_or_never() {
                                Some(Some((index, Ok(delivery)))) => self.hold(&mut waiting, &mut running, index, delivery).await,
                                _ => break,
                            }
                        }
                    }
                    Some((index, Err(error))) => {
                        tracing::warn!(consumer = self.commands[index].1, %error, "command delivery failed");
                    }
                    None => {
                        tracing::error!(service = S::NAME, "every command consumer ended: this instance takes no more commands");
                        break;
                    }
                },
            }
            while running.len() < self.config.max_concurrency {
                let Some(next) = waiting.pop() else { break };
                if cancelled.remove(&next.command_id).is_some() {
                    self.finish_cancelled(&next).await;
                    continue;
                }
                let (cancel, cancel_rx) = watch::channel(false);
                running.insert(
                    next.command_id.clone(),
                    Running {
                        cancel,
                        acker: next.delivery.acker(),
                    },
                );
                tasks.push(Arc::clone(&self).execute(next, cancel_rx));
            }
            self.waiting.store(waiting.len(), Ordering::Relaxed);
        }
        self.waiting.store(0, Ordering::Relaxed);
        // Stop taking commands; the held ones go back at once, the running ones may finish.
        stop_intake(&mut intake).await;
        for held in waiting.into_vec() {
            let _ = held.delivery.nak(Duration::ZERO).await;
        }
        let drain = async {
            loop {
                tokio::select! {
                    next = tasks.next() => match next {
                        Some(id) => { running.remove(&id); }
                        None => break,
                    },
                    _ = keep_alive.tick() => {
                        for run in running.values() {
                            let _ = run.acker.settle(AckKind::Progress).await;
                        }
                    }
                }
            }
        };
        if tokio::time::timeout(self.drain_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                service = S::NAME,
                "drain timeout: commands cancelled (they will run again elsewhere)"
            );
        }
    }

    /// Reads the command's head and keeps it waiting; an unreadable one is dead-lettered.
    async fn hold(
        &self,
        waiting: &mut BinaryHeap<Waiting>,
        running: &mut HashMap<String, Running>,
        index: usize,
        delivery: Delivery,
    ) {
        let codec = Codec::detect(&delivery.message.payload);
        let head = codec.decode_borrowed::<CommandHead<'_>>(&delivery.message.payload);
        match head {
            Ok(head) => {
                let command_id = head.message_id.map_or_else(
                    || format!("seq-{}", delivery.info.stream_sequence),
                    Cow::into_owned,
                );
                let reply_to = delivery.message.headers.get(REPLY_TO_HEADER);
                let held = Waiting {
                    index,
                    route: ReplyRoute::of(reply_to, &command_id),
                    command_id,
                    trace_id: head.trace_id.map_or_else(new_id, Cow::into_owned),
                    source: head.source.map(Cow::into_owned),
                    priority: head.priority,
                    max_retries: head.max_retries,
                    timeout: command_timeout(head.timeout, self.config.max_timeout),
                    codec,
                    delivery,
                };
                // Delivered again while still here (a keep-alive came late): never run one
                // command twice at once; the newest delivery is the one to keep alive.
                if let Some(run) = running.get_mut(&held.command_id) {
                    tracing::debug!(command = held.command_id, "redelivered while running");
                    let labels = [("service", S::NAME), ("command", self.commands[index].0)];
                    self.metrics.increment(
                        "aegis_commands_redelivered_while_running_total",
                        &labels,
                        1,
                    );
                    run.acker = held.delivery.acker();
                    return;
                }
                if waiting.iter().any(|w| w.command_id == held.command_id) {
                    let mut others = std::mem::take(waiting).into_vec();
                    others.retain(|w| w.command_id != held.command_id);
                    *waiting = others.into();
                }
                waiting.push(held);
            }
            Err(error) => {
                let error = RpcError::bad_request(format!("cannot decode the command: {error}"));
                let origin = Origin {
                    service: S::NAME,
                    stream: COMMANDS_STREAM,
                    consumer: &self.commands[index].1,
                };
                dead_letter(
                    &*self.streams,
                    origin,
                    &delivery,
                    &error,
                    Duration::from_secs(1),
                )
                .await;
            }
        }
    }

    /// Runs one attempt and settles it; returns the command id.
    fn execute(
        self: Arc<Self>,
        held: Waiting,
        cancel: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = String> {
        let command = self.commands[held.index].0;
        let subject = held.delivery.message.subject.as_str();
        let span = tracing::debug_span!(
            parent: None,
            "command",
            service = S::NAME,
            command,
            id = held.command_id.as_str(),
            attempt = held.delivery.info.delivered,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
            "otel.name" = format_args!("{subject} process"),
            "otel.kind" = "consumer",
            "messaging.system" = "nats",
            "messaging.operation.type" = "process",
            "messaging.destination.name" = subject,
            "messaging.message.id" = held.command_id.as_str(),
            "otel.status_code" = tracing::field::Empty,
            "error.type" = tracing::field::Empty,
        );
        let trace =
            propagation::enter(&span, propagation::incoming(&held.delivery.message.headers));
        self.execute_in_span(held, cancel, trace).instrument(span)
    }

    async fn execute_in_span(
        self: Arc<Self>,
        held: Waiting,
        cancel: watch::Receiver<bool>,
        trace: TraceContext,
    ) -> String {
        let (command, consumer) = &self.commands[held.index];
        let attempt = held.delivery.info.delivered;
        let attempts = u64::from(held.max_retries) + 1;
        if attempt > attempts {
            // Delivered again and again without an outcome: its workers keep dying.
            let error = RpcError::internal(format!(
                "delivered {attempt} times without an outcome (max {attempts})"
            ));
            self.finish_failed(&held, consumer, &error).await;
            return held.command_id;
        }
        let reporter = (held.route != ReplyRoute::Nowhere).then(|| {
            Arc::new(Reporter {
                bus: Arc::clone(&self.bus),
                route: held.route.clone(),
                codec: held.codec,
            })
        });
        let context = CommandContext {
            command_id: held.command_id.clone(),
            trace_id: held.trace_id.clone(),
            source: held.source.clone(),
            command,
            instance_id: self.instance_id.clone(),
            priority: held.priority,
            attempt,
            max_retries: held.max_retries,
            deadline: Instant::now() + held.timeout,
            headers: held.delivery.message.headers.clone(),
            trace,
            reporter,
            cancelled: cancel,
        };
        let call = CommandCall {
            payload: held.delivery.message.payload.clone(),
            codec: held.codec,
            command_id: held.command_id.clone(),
            context: Some(context),
        };
        let started = Instant::now();
        let outcome = match AssertUnwindSafe(S::__on_command(&self.service, command, call))
            .catch_unwind()
            .await
        {
            Ok(outcome) => outcome,
            Err(panic) => CommandOutcome::Failed(RpcError::internal(format!(
                "command `{command}` panicked: {}",
                panic_message(&*panic)
            ))),
        };
        self.metrics.observe(
            "aegis_commands_handler_duration_seconds",
            &[("service", S::NAME), ("command", command)],
            started.elapsed().as_secs_f64(),
        );
        if let CommandOutcome::Failed(error) = &outcome {
            propagation::record_failure(&tracing::Span::current(), error.code());
        }
        match outcome {
            CommandOutcome::Completed(completion) => {
                self.count(command, "completed");
                // The outcome first, then the ack: a crash in between runs the command again
                // (the caller keeps the first outcome), never loses it.
                self.deliver(&held, completion).await;
                if let Err(error) = held.delivery.ack().await {
                    tracing::warn!(consumer, %error, "could not ack a command (it may run again)");
                }
            }
            CommandOutcome::Cancelled => self.finish_cancelled(&held).await,
            CommandOutcome::Failed(error) if error.code() >= 500 && attempt < attempts => {
                tracing::debug!(consumer, attempt, %error, "command failed; retrying");
                self.count(command, "retried");
                let text = format!("attempt {attempt} of {attempts} failed: {error}");
                let report = self.status_message(&held, "retrying", &text, None);
                if let Some(report) = report {
                    self.reply(&held, report).await;
                }
                let delay = backoff_delay(&self.config.backoff, attempt);
                if let Err(error) = held.delivery.nak(delay).await {
                    tracing::warn!(consumer, %error, "could not nak a command (it will run again after ack_wait)");
                }
            }
            CommandOutcome::Failed(error) => self.finish_failed(&held, consumer, &error).await,
        }
        held.command_id
    }

    /// One run of `command` ended with `outcome`: completed, retried, failed or cancelled.
    fn count(&self, command: &'static str, outcome: &'static str) {
        let labels = [
            ("service", S::NAME),
            ("command", command),
            ("outcome", outcome),
        ];
        self.metrics
            .increment("aegis_commands_deliveries_total", &labels, 1);
    }

    async fn finish_failed(&self, held: &Waiting, consumer: &str, error: &RpcError) {
        self.count(self.commands[held.index].0, "failed");
        let outcome = self.status_message(held, "failed", &error.to_string(), Some(error.code()));
        if let Some(outcome) = outcome {
            self.deliver(held, outcome).await;
        }
        let origin = Origin {
            service: S::NAME,
            stream: COMMANDS_STREAM,
            consumer,
        };
        let retry_in = backoff_delay(&self.config.backoff, held.delivery.info.delivered);
        dead_letter(&*self.streams, origin, &held.delivery, error, retry_in).await;
    }

    async fn finish_cancelled(&self, held: &Waiting) {
        self.count(self.commands[held.index].0, "cancelled");
        let text = format!("command {} was cancelled", held.command_id);
        let outcome = self.status_message(held, "cancelled", &text, Some(codes::CANCELLED));
        if let Some(outcome) = outcome {
            self.deliver(held, outcome).await;
        }
        if let Err(error) = held.delivery.term().await {
            tracing::warn!(%error, "could not terminate a cancelled command");
        }
    }

    /// A status without a result, in the caller's codec.
    fn status_message(
        &self,
        held: &Waiting,
        status: &'static str,
        text: &str,
        code: Option<u16>,
    ) -> Option<Bytes> {
        let message = CompletionMessage::<()> {
            command_id: &held.command_id,
            status,
            result: None,
            error: Some(text),
            code,
        };
        held.codec.encode(&message).ok().map(Bytes::from)
    }

    /// Sends the outcome to the caller, by its route.
    async fn deliver(&self, held: &Waiting, payload: Bytes) {
        match &held.route {
            ReplyRoute::Inbox(reply_to) => self.deliver_to_inbox(held, reply_to, payload).await,
            ReplyRoute::Python => self.deliver_to_python(held, payload).await,
            ReplyRoute::Nowhere => {}
        }
    }

    /// Sends the outcome to an Aegis caller, who confirms it (`CommandHandle` answers the
    /// reply subject). No answer means the caller did not get it: "no responders" when its
    /// inbox is not known where this worker is connected (on a cluster its subscription may
    /// still be on its way between nodes, or the caller is reconnecting), a timeout when the
    /// message went to a node that has not noticed the caller's disconnection yet. A plain
    /// publish was dropped then, and the caller waited for ever. So it is sent again, for up
    /// to `OUTCOME_PATIENCE` (at most half the ack wait: the ack follows); the caller keeps
    /// the first copy it gets.
    async fn deliver_to_inbox(&self, held: &Waiting, reply_to: &str, payload: Bytes) {
        let deadline = Instant::now() + OUTCOME_PATIENCE.min(self.config.ack_wait / 2);
        let mut pause = Duration::from_millis(20);
        loop {
            let message = Message::new(reply_to.to_owned(), payload.clone());
            let error = match self.bus.request(message, OUTCOME_CONFIRMATION).await {
                Ok(_) => return,
                Err(error @ (Error::NoResponders { .. } | Error::Timeout { .. })) => error,
                Err(error) => {
                    tracing::warn!(command = held.command_id, %error, "outcome not delivered to the caller");
                    return;
                }
            };
            if Instant::now() + pause >= deadline {
                tracing::warn!(command = held.command_id, %error, "the caller did not confirm the outcome");
                return;
            }
            tracing::debug!(command = held.command_id, %error, "outcome not confirmed; sending it again");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Sends the outcome the Python AegisSDK's way, to `commands.callback.{id}` (its caller
    /// subscribes there and confirms nothing), then removes this command's reports from
    /// `COMMANDS`, which captures both subjects. Sent as a request: the stream's answer (it
    /// stored the message, or refused it) says the reports before it are in, so the purge
    /// misses none.
    async fn deliver_to_python(&self, held: &Waiting, payload: Bytes) {
        let id = &held.command_id;
        let mut message = Message::new(python_callback_subject(id), payload);
        message.headers.insert(ROLLUP_HEADER, "sub");
        if let Err(error) = self.bus.request(message, PYTHON_OUTCOME_STORED).await {
            tracing::debug!(command = %id, %error, "no stream answered the Python-style outcome");
        }
        for subject in [python_progress_subject(id), python_callback_subject(id)] {
            if let Err(error) = self.streams.purge_subject(COMMANDS_STREAM, &subject).await {
                tracing::warn!(command = %id, %error, "could not remove a command report from COMMANDS");
            }
        }
    }

    /// Sends a retry notice to an Aegis caller (the Python SDK has no such message): at
    /// most once, as progress is.
    async fn reply(&self, held: &Waiting, payload: Bytes) {
        let ReplyRoute::Inbox(reply_to) = &held.route else {
            return;
        };
        let message = Message::new(reply_to.clone(), payload);
        if let Err(error) = self.bus.publish(message).await {
            tracing::debug!(command = held.command_id, %error, "retry notice not delivered to the caller");
        }
    }
}

/// Remembers a cancel request for a command this instance has not seen (it may come later).
fn remember(cancelled: &mut HashMap<String, Instant>, id: String) {
    let now = Instant::now();
    cancelled.retain(|_, at| now.duration_since(*at) < CANCEL_MEMORY);
    if cancelled.len() < CANCEL_MEMORY_MAX {
        cancelled.insert(id, now);
    }
}
