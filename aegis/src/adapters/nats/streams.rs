//! [`Streams`] on JetStream: file-backed streams, durable pull consumers, acks confirmed by
//! the server.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use async_nats::jetstream::consumer::{self, PullConsumer, pull};
use async_nats::jetstream::context::{
    ConsumerInfoErrorKind, CreateStreamErrorKind, GetStreamErrorKind,
};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, ConsumerCreateStrictErrorKind, ConsumerErrorKind};
use async_nats::jetstream::{self, ErrorCode};
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};

use super::NatsBus;
use super::error;
use super::placement::Placement;
use super::stats::ConnectionStats;
use crate::domain::subject::{
    COMMANDS_STREAM, subjects_collide, validate_subject, validate_subject_token,
};
use crate::ports::{
    AckKind, Acker, BoxFuture, ConsumerConfig, Deliveries, Delivery, DeliveryInfo, DeliverySource,
    Message, PendingAck, PubAck, Retention, StartAt, StoredMessage, StreamConfig, Streams,
};
use crate::{Error, Result};

/// The wait for JetStream API replies, publish acknowledgements and confirmed settles (the
/// connection's default request timeout, so that they all behave alike).
const JETSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// How long binding a consumer at start keeps retrying while the server cannot answer
/// (a replicated stream electing its leader takes up to ~10 s on nats-server 2.15).
const BIND_PATIENCE: Duration = Duration::from_secs(30);

/// The most messages one pull request asks for; the consumer's `max_ack_pending` lowers it,
/// so that a binding does not hold messages it could not start on before `ack_wait`.
const MAX_BATCH: usize = 256;

/// The server refuses a consumer whose filter overlaps another's on a work-queue stream
/// ("filtered consumer not unique on workqueue stream").
const WORK_QUEUE_OVERLAP: ErrorCode = ErrorCode(10100);

/// How long a pull request waits on the server before the binding renews it.
const PULL_EXPIRES: Duration = Duration::from_secs(30);

/// The server's heartbeat while a pull request waits: two missed in a row and the binding
/// binds again, instead of waiting for the request to expire.
const PULL_HEARTBEAT: Duration = Duration::from_secs(5);

/// Persistent streams on JetStream, on the connection of a [`NatsBus`]. Cheap to clone.
#[derive(Clone)]
pub struct NatsStreams {
    jetstream: jetstream::Context,
    placement: Placement,
    /// Shared by every delivery's acker (one reference count instead of a client clone).
    client: Arc<async_nats::Client>,
    stats: Arc<ConnectionStats>,
}

impl fmt::Debug for NatsStreams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsStreams").finish_non_exhaustive()
    }
}

impl NatsStreams {
    /// Streams on the connection of `bus`.
    pub fn new(bus: &NatsBus) -> Self {
        let client = bus.client().clone();
        NatsStreams {
            placement: bus.placement(),
            stats: Arc::clone(bus.stats_arc()),
            jetstream: jetstream::ContextBuilder::new()
                .timeout(JETSTREAM_TIMEOUT)
                // An acknowledgement nobody awaits any more (its caller gave up) holds one of
                // the context's in-flight permits until this passes; the default (30 s) let
                // retries during a stream's re-election use them all up, and `publish` then
                // waited for a permit with no bound.
                .ack_timeout(JETSTREAM_TIMEOUT)
                .build(client.clone()),
            client: Arc::new(client),
        }
    }

    /// Whether `name` exists.
    /// The replica count of stream `name`, `None` when it does not exist.
    async fn stream_replicas(&self, name: &str) -> Result<Option<usize>> {
        match self.jetstream.get_stream(name).await {
            Ok(mut stream) => {
                let info = stream
                    .info()
                    .await
                    .map_err(|e| error::transport(&format!("looking up stream `{name}`"), e))?;
                Ok(Some(info.config.num_replicas))
            }
            Err(e) => match e.kind() {
                GetStreamErrorKind::JetStream(api)
                    if api.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    Ok(None)
                }
                _ => Err(error::transport(&format!("looking up stream `{name}`"), e)),
            },
        }
    }

    /// Creates the durable consumer or brings an existing one in line, then binds it.
    async fn bind(&self, stream: &str, config: &ConsumerConfig) -> Result<pull::Stream> {
        let consumer = self.ensure_consumer(stream, config).await?;
        let batch = config
            .fetch_ahead
            .min(config.max_ack_pending)
            .clamp(1, MAX_BATCH);
        consumer
            .stream()
            .max_messages_per_batch(batch)
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_HEARTBEAT)
            .messages()
            .await
            .map_err(|e| error::transport(&format!("binding consumer `{}`", config.name), e))
    }

    /// [`Self::bind`], retried while the server cannot answer yet: a replicated stream
    /// that was just created, or whose leader just died, times out consumer requests until
    /// it has a leader (seconds). Refusals are returned at once.
    async fn bind_at_start(&self, stream: &str, config: &ConsumerConfig) -> Result<pull::Stream> {
        let deadline = tokio::time::Instant::now() + BIND_PATIENCE;
        let mut failures = 0;
        loop {
            let delay = rebind_delay(failures);
            match self.bind(stream, config).await {
                Err(error @ (Error::Transport(_) | Error::Timeout { .. }))
                    if tokio::time::Instant::now() + delay < deadline =>
                {
                    tracing::info!(stream, consumer = %config.name, %error, "consumer not bound yet; retrying");
                    tokio::time::sleep(delay).await;
                    failures += 1;
                }
                outcome => return outcome,
            }
        }
    }

    async fn ensure_consumer(&self, stream: &str, config: &ConsumerConfig) -> Result<PullConsumer> {
        let handle = self
            .jetstream
            .get_stream_no_info(stream)
            .await
            .map_err(|e| error::transport(&format!("stream `{stream}`"), e))?;
        let context = || format!("consumer `{}` on `{stream}`", config.name);
        // Two rounds: another instance may create it between our look-up and our create.
        for _ in 0..2 {
            match handle.consumer_info(&config.name).await {
                Ok(info) => return self.reconcile(stream, info, config).await,
                Err(e) => match e.kind() {
                    ConsumerInfoErrorKind::NotFound => {}
                    ConsumerInfoErrorKind::StreamNotFound => return Err(no_stream(stream)),
                    _ => return Err(error::transport(&context(), e)),
                },
            }
            match self
                .jetstream
                .create_consumer_strict_on_stream(new_consumer(config), stream)
                .await
            {
                Ok(consumer) => return Ok(consumer),
                Err(e) => match e.kind() {
                    ConsumerCreateStrictErrorKind::AlreadyExists => {}
                    ConsumerCreateStrictErrorKind::JetStream(api)
                        if api.error_code() == WORK_QUEUE_OVERLAP =>
                    {
                        return Err(self.overlap(&handle, stream, config).await);
                    }
                    ConsumerCreateStrictErrorKind::JetStream(api) => {
                        return Err(error::jetstream_api(&context(), &api));
                    }
                    _ => return Err(error::transport(&context(), e)),
                },
            }
        }
        Err(Error::Transport(format!(
            "{}: created and removed concurrently",
            context()
        )))
    }

    /// The server's refusal of a second consumer of the same subjects on a work queue does
    /// not name the first one: the stream's consumers tell.
    async fn overlap(
        &self,
        handle: &stream::Stream<()>,
        stream: &str,
        config: &ConsumerConfig,
    ) -> Error {
        let ours = &config.filter_subject;
        // Fails fast where the user may not list consumers (narrowed permissions).
        let listing = self
            .stats
            .unless_denied(format!("$JS.API.CONSUMER.LIST.{stream}"), async {
                handle
                    .consumers()
                    .try_collect::<Vec<_>>()
                    .await
                    .map_err(|e| error::transport("listing consumers", e))
            })
            .await;
        // (name, filter) of each consumer that takes some of our subjects.
        let others: Vec<(String, String)> = listing
            .unwrap_or_default()
            .into_iter()
            .filter(|other| other.name != config.name)
            .filter_map(|other| {
                let c = other.config;
                let filters = if !c.filter_subjects.is_empty() {
                    c.filter_subjects
                } else if !c.filter_subject.is_empty() {
                    vec![c.filter_subject]
                } else {
                    return Some((other.name, String::from("no filter")));
                };
                filters
                    .iter()
                    .any(|theirs| subjects_collide(theirs, ours))
                    .then(|| (other.name, format!("filter `{}`", filters.join("`, `"))))
            })
            .collect();
        let name = &config.name;
        let message = match &others[..] {
            [] => format!(
                "`{name}` on stream `{stream}` cannot be created: on a work-queue stream each \
                 message goes to one consumer only, and another consumer already takes messages \
                 of `{ours}`. Find it with `nats consumer ls {stream}`, delete it if it is not \
                 needed, or narrow its filter so that it leaves `{ours}` alone"
            ),
            [(other, filter)] => format!(
                "`{name}` on stream `{stream}` cannot be created: on a work-queue stream each \
                 message goes to one consumer only, and `{other}` ({filter}) already takes \
                 messages of `{ours}`. Delete it if it is not needed (`nats consumer rm {stream} \
                 {other}`), or narrow its filter so that it leaves `{ours}` alone"
            ),
            many => format!(
                "`{name}` on stream `{stream}` cannot be created: on a work-queue stream each \
                 message goes to one consumer only, and {} already take messages of `{ours}`. \
                 Delete those not needed (`nats consumer rm {stream} NAME`), or narrow their \
                 filters so that they leave `{ours}` alone",
                many.iter()
                    .map(|(other, filter)| format!("`{other}` ({filter})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Error::invalid("consumer", message)
    }

    /// An existing consumer keeps its position and filter; only the settings that the
    /// contract lets a binding change are updated, and only when they differ.
    async fn reconcile(
        &self,
        stream: &str,
        info: consumer::Info,
        config: &ConsumerConfig,
    ) -> Result<PullConsumer> {
        let existing = &info.config;
        let invalid = |why: String| {
            Error::invalid("consumer", format!("`{}` on `{stream}` {why}", config.name))
        };
        if existing.deliver_subject.is_some() {
            return Err(push_consumer(stream, &config.name));
        }
        let filter_matches =
            existing.filter_subject == config.filter_subject && existing.filter_subjects.is_empty();
        if !filter_matches {
            return Err(invalid(format!(
                "filters `{}`, not `{}`; delete it to change its filter",
                existing.filter_subject, config.filter_subject
            )));
        }
        let mut wanted =
            <pull::Config as consumer::FromConsumer>::try_from_consumer_config(info.config.clone())
                .map_err(|e| invalid(e.to_string()))?;
        wanted.ack_wait = config.ack_wait;
        wanted.max_ack_pending = max_ack_pending(config);
        wanted.inactive_threshold = config.inactive_threshold.unwrap_or_default();
        let unchanged = existing.ack_wait == wanted.ack_wait
            && existing.max_ack_pending == wanted.max_ack_pending
            && existing.inactive_threshold == wanted.inactive_threshold;
        if unchanged {
            return Ok(consumer::Consumer::new(
                wanted,
                info,
                self.jetstream.clone(),
            ));
        }
        self.jetstream
            .update_consumer_on_stream(wanted, stream)
            .await
            .map_err(|e| match e.kind() {
                stream::ConsumerUpdateErrorKind::JetStream(api) => {
                    error::jetstream_api(&format!("updating consumer `{}`", config.name), &api)
                }
                _ => error::transport(&format!("updating consumer `{}`", config.name), e),
            })
    }
}

/// The configuration of a new consumer.
fn new_consumer(config: &ConsumerConfig) -> pull::Config {
    pull::Config {
        durable_name: Some(config.name.clone()),
        filter_subject: config.filter_subject.clone(),
        deliver_policy: match config.start {
            StartAt::New => consumer::DeliverPolicy::New,
            StartAt::First => consumer::DeliverPolicy::All,
            StartAt::Sequence(n) => consumer::DeliverPolicy::ByStartSequence { start_sequence: n },
            StartAt::Time(t) => consumer::DeliverPolicy::ByStartTime {
                start_time: t.into(),
            },
        },
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: config.ack_wait,
        max_ack_pending: max_ack_pending(config),
        // Callers count deliveries and decide when to give up.
        max_deliver: -1,
        inactive_threshold: config.inactive_threshold.unwrap_or_default(),
        ..Default::default()
    }
}

fn max_ack_pending(config: &ConsumerConfig) -> i64 {
    i64::try_from(config.max_ack_pending).unwrap_or(i64::MAX)
}

/// A consumer of the name we bind exists, but pushes (it has a deliver subject): another
/// client made it, and only it can use it.
fn push_consumer(stream: &str, name: &str) -> Error {
    let message = if stream == COMMANDS_STREAM {
        format!(
            "`{name}` on stream `{stream}` is a push consumer, as the Python AegisSDK creates \
             for its command workers; aegis workers pull, and a Rust and a Python worker pool \
             cannot share a command's work queue. Run this command's workers in one language: \
             stop the Python workers and delete the consumer (`nats consumer rm {stream} \
             {name}`), or move the command to a new name"
        )
    } else {
        format!(
            "`{name}` on stream `{stream}` is a push consumer, made by another client (the \
             Python AegisSDK makes push consumers); aegis binds pull consumers only. Delete it \
             if nothing uses it any more (`nats consumer rm {stream} {name}`), or give the \
             aegis consumer another name"
        )
    };
    Error::invalid("consumer", message)
}

fn no_stream(stream: &str) -> Error {
    Error::invalid("stream", format!("`{stream}` does not exist"))
}

impl Streams for NatsStreams {
    fn ensure_stream(&self, config: StreamConfig) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            validate_subject_token("stream name", &config.name)?;
            for subject in &config.subjects {
                validate_subject(subject, true)?;
            }
            // An existing stream is used as it is (another peer, maybe the Python SDK, owns
            // its settings).
            let existing = self.stream_replicas(&config.name).await?;
            // Read after a round trip: a connection still being made has no INFO yet.
            let server = self.client.server_info();
            if let Some(replicas) = existing {
                self.placement
                    .check_existing("stream", &config.name, replicas, &server);
                return Ok(());
            }
            let (retention, discard) = match config.retention {
                Retention::Limits => (stream::RetentionPolicy::Limits, stream::DiscardPolicy::Old),
                // A full queue refuses new commands rather than evicting unprocessed ones.
                Retention::WorkQueue => (
                    stream::RetentionPolicy::WorkQueue,
                    stream::DiscardPolicy::New,
                ),
            };
            let name = config.name;
            let wanted = stream::Config {
                name: name.clone(),
                subjects: config.subjects,
                retention,
                discard,
                max_messages: config.max_msgs,
                duplicate_window: config.duplicate_window,
                storage: self.placement.storage_type(),
                num_replicas: self.placement.replicas(&server),
                ..Default::default()
            };
            let context = || format!("creating stream `{name}`");
            let mut replicas = wanted.num_replicas;
            loop {
                let created = self
                    .jetstream
                    .create_stream(stream::Config {
                        num_replicas: replicas,
                        ..wanted.clone()
                    })
                    .await;
                let Err(e) = created else {
                    return Ok(());
                };
                return match e.kind() {
                    // Another instance created it meanwhile, with other settings (the same
                    // settings succeed).
                    CreateStreamErrorKind::JetStream(api)
                        if api.error_code() == ErrorCode::STREAM_NAME_EXIST =>
                    {
                        if self.stream_replicas(&name).await?.is_some() {
                            Ok(())
                        } else {
                            Err(error::jetstream_api(&context(), &api))
                        }
                    }
                    CreateStreamErrorKind::JetStream(api) => {
                        if let Some(fewer) = self.placement.fallback(replicas) {
                            self.placement
                                .warn_fallback("stream", &name, replicas, &api);
                            replicas = fewer;
                            continue;
                        }
                        Err(error::jetstream_api(&context(), &api))
                    }
                    _ => Err(error::transport(&context(), e)),
                };
            }
        })
    }

    fn publish(&self, message: Message) -> BoxFuture<'_, Result<PendingAck>> {
        Box::pin(async move {
            validate_subject(&message.subject, false)?;
            // A subject shares its bytes when cloned: the copy kept for errors costs no
            // allocation.
            let subject = async_nats::Subject::from(message.subject);
            let mut publish = PublishMessage::build().payload(message.payload);
            if !message.headers.is_empty() {
                publish = publish.headers(super::bus::to_nats_headers(&message.headers)?);
            }
            // async-nats bounds the send and the acknowledgement, but not the wait for an
            // in-flight permit before them.
            let denied = self.stats.publish_denied(subject.clone());
            let ack = tokio::time::timeout(
                JETSTREAM_TIMEOUT,
                self.jetstream.send_publish(subject.clone(), publish),
            )
            .await
            .map_err(|_| Error::Timeout {
                subject: subject.to_string(),
                after: JETSTREAM_TIMEOUT,
            })?
            .map_err(|e| error::stream_publish(e, &subject, JETSTREAM_TIMEOUT))?;
            Ok(PendingAck::new(async move {
                // A refused publish gets no acknowledgement, only an error on the connection.
                let ack = tokio::select! {
                    biased;
                    ack = ack => ack.map_err(|e| error::stream_publish(e, &subject, JETSTREAM_TIMEOUT))?,
                    error = denied => return Err(error),
                };
                Ok(PubAck {
                    stream: ack.stream,
                    sequence: ack.sequence,
                    duplicate: ack.duplicate,
                })
            }))
        })
    }

    fn consume(&self, stream: &str, config: ConsumerConfig) -> BoxFuture<'_, Result<Deliveries>> {
        let stream = stream.to_owned();
        Box::pin(async move {
            validate_subject_token("stream name", &stream)?;
            validate_subject_token("consumer name", &config.name)?;
            validate_subject(&config.filter_subject, true)?;
            let messages = self.bind_at_start(&stream, &config).await?;
            Ok(Deliveries::new(Binding {
                streams: self.clone(),
                stream,
                config,
                state: State::Bound(Box::new(messages)),
                failures: 0,
                stopping: false,
            }))
        })
    }

    fn delete_consumer<'a>(&'a self, stream: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            validate_subject_token("stream name", stream)?;
            validate_subject_token("consumer name", name)?;
            let Err(e) = self
                .jetstream
                .delete_consumer_from_stream(name, stream)
                .await
            else {
                return Ok(());
            };
            match e.kind() {
                ConsumerErrorKind::JetStream(api)
                    if api.error_code() == ErrorCode::CONSUMER_NOT_FOUND
                        || api.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    Ok(())
                }
                _ => Err(error::transport(
                    &format!("deleting consumer `{name}` on `{stream}`"),
                    e,
                )),
            }
        })
    }

    fn stream_len<'a>(&'a self, stream: &'a str) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            validate_subject_token("stream name", stream)?;
            match self.jetstream.get_stream(stream).await {
                Ok(handle) => Ok(handle.cached_info().state.messages),
                Err(e) => match e.kind() {
                    GetStreamErrorKind::JetStream(api)
                        if api.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                    {
                        Err(no_stream(stream))
                    }
                    _ => Err(error::transport(&format!("stream `{stream}`"), e)),
                },
            }
        })
    }
    fn purge_subject<'a>(
        &'a self,
        stream: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            validate_subject_token("stream name", stream)?;
            validate_subject(subject, false)?;
            let context = || format!("purging `{subject}` from stream `{stream}`");
            // One API call: `get_stream(..).purge()` would ask for the stream's info first.
            let response: jetstream::response::Response<Purged> = self
                .jetstream
                .request(
                    format!("STREAM.PURGE.{stream}"),
                    &serde_json::json!({ "filter": subject }),
                )
                .await
                .map_err(|e| error::transport(&context(), e))?;
            match response {
                jetstream::response::Response::Ok(purged) => Ok(purged.purged),
                jetstream::response::Response::Err { error }
                    if error.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    Err(no_stream(stream))
                }
                jetstream::response::Response::Err { error } => {
                    Err(error::jetstream_api(&context(), &error))
                }
            }
        })
    }

    fn next_message<'a>(
        &'a self,
        stream: &'a str,
        from: u64,
        filter: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredMessage>>> {
        Box::pin(async move {
            validate_subject_token("stream name", stream)?;
            validate_subject(filter, true)?;
            super::stored::next_message(&self.jetstream, stream, from, filter).await
        })
    }

    fn delete_message<'a>(&'a self, stream: &'a str, sequence: u64) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            validate_subject_token("stream name", stream)?;
            super::stored::delete_message(&self.jetstream, stream, sequence).await
        })
    }
}

/// The answer to a purge request.
#[derive(serde::Deserialize)]
struct Purged {
    purged: u64,
}

/// Settles one delivery through its `$JS.ACK` reply subject.
struct NatsAcker {
    client: Arc<async_nats::Client>,
    reply: async_nats::Subject,
}

impl Acker for NatsAcker {
    fn settle(&self, kind: AckKind) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let (body, confirmed) = match kind {
                AckKind::Ack => (jetstream::AckKind::Ack, true),
                AckKind::Term => (jetstream::AckKind::Term, true),
                AckKind::Nak(delay) => (jetstream::AckKind::Nak(Some(delay)), false),
                AckKind::Progress => (jetstream::AckKind::Progress, false),
            };
            let body = Bytes::from(body);
            if confirmed {
                // A request on the connection's shared reply subscription: the server answers
                // once it has recorded the settle (async-nats' `double_ack` would subscribe
                // a fresh inbox for every message).
                let request = async_nats::Request::new()
                    .payload(body)
                    .timeout(Some(JETSTREAM_TIMEOUT));
                self.client
                    .send_request(self.reply.clone(), request)
                    .await
                    .map(drop)
                    .map_err(|e| error::request(e, &self.reply, JETSTREAM_TIMEOUT))
            } else {
                self.client
                    .publish(self.reply.clone(), body)
                    .await
                    .map_err(|e| error::publish(e, &self.reply))
            }
        })
    }
}

/// A JetStream message as a delivery.
fn delivery(message: jetstream::Message, client: &Arc<async_nats::Client>) -> Result<Delivery> {
    let info = message
        .info()
        .map_err(|e| error::transport("a delivery without JetStream metadata", e))?;
    let info = DeliveryInfo {
        stream_sequence: info.stream_sequence,
        delivered: u64::try_from(info.delivered).unwrap_or_default(),
        published: SystemTime::from(info.published),
    };
    let async_nats::Message {
        subject,
        reply,
        payload,
        headers,
        ..
    } = message.message;
    // `info()` succeeded, so there is a reply subject.
    let reply = reply.ok_or_else(|| Error::Transport("a delivery without reply subject".into()))?;
    let message = Message {
        subject: subject.as_str().to_owned(),
        reply: None,
        headers: headers
            .as_ref()
            .map(super::bus::from_nats_headers)
            .unwrap_or_default(),
        payload,
    };
    let acker = NatsAcker {
        client: Arc::clone(client),
        reply,
    };
    Ok(Delivery::new(message, info, Arc::new(acker)))
}

enum State {
    /// Boxed: async-nats' stream is large, and moved between states.
    Bound(Box<pull::Stream>),
    /// Binding again after the consumer vanished or the server went quiet.
    Rebinding(BoxFuture<'static, Result<pull::Stream>>),
    Ended,
}

/// One binding: async-nats' pull stream, bound again when it can no longer recover alone.
struct Binding {
    streams: NatsStreams,
    stream: String,
    config: ConsumerConfig,
    state: State,
    /// Failed binds in a row, for the backoff.
    failures: u32,
    stopping: bool,
}

/// The wait before binding again after `failures` failed binds in a row: 100 ms doubling to
/// 2 s, so that a server coming back (or a stream electing its leader) is not hammered.
fn rebind_delay(failures: u32) -> Duration {
    Duration::from_millis(100 * (1 << failures.min(5))).min(Duration::from_secs(2))
}

impl Binding {
    fn rebind(&self) -> State {
        let streams = self.streams.clone();
        let stream = self.stream.clone();
        let config = self.config.clone();
        let delay = rebind_delay(self.failures);
        State::Rebinding(Box::pin(async move {
            tokio::time::sleep(delay).await;
            streams.bind(&stream, &config).await
        }))
    }
}

impl Stream for Binding {
    type Item = Result<Delivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Ended => return Poll::Ready(None),
                State::Rebinding(_) if this.stopping => this.state = State::Ended,
                State::Rebinding(bind) => match bind.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(messages)) => this.state = State::Bound(Box::new(messages)),
                    Poll::Ready(Err(e)) => {
                        this.failures = this.failures.saturating_add(1);
                        this.state = this.rebind();
                        return Poll::Ready(Some(Err(e)));
                    }
                },
                State::Bound(messages) => match messages.poll_next_unpin(cx) {
                    Poll::Ready(Some(Ok(message))) => {
                        this.failures = 0;
                        return Poll::Ready(Some(delivery(message, &this.streams.client)));
                    }
                    // Stopping: what was already received has been handed out.
                    Poll::Pending | Poll::Ready(Some(Err(_))) if this.stopping => {
                        this.state = State::Ended;
                    }
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Err(e))) => {
                        use pull::MessagesErrorKind as Kind;
                        // Without heartbeats the pull request may be lost; without responders
                        // the consumer is gone (removed during an outage) or JetStream is not
                        // back yet. async-nats would only retry when the request expires.
                        if matches!(e.kind(), Kind::MissingHeartbeat | Kind::NoResponders) {
                            this.state = this.rebind();
                        }
                        return Poll::Ready(Some(Err(error::transport(
                            &format!("consumer `{}` on `{}`", this.config.name, this.stream),
                            e,
                        ))));
                    }
                    // async-nats ended it: the consumer was deleted or refuses pull requests.
                    Poll::Ready(None) => this.state = State::Ended,
                },
            }
        }
    }
}

impl DeliverySource for Binding {
    fn stop(&mut self) -> BoxFuture<'_, ()> {
        // The next poll hands out what is already buffered, then ends and drops the pull
        // stream (which stops its pull requests). Unsettled deliveries stay pending.
        self.stopping = true;
        Box::pin(async {})
    }
}
