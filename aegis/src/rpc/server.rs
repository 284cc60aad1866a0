//! The RPC receive loop: subscriptions (queue group, per instance, exclusive while leading,
//! `$SRV`), handlers polled in one task up to a bound, replies published, graceful drain.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, SelectAll};
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tracing::Instrument;

use crate::catalog::ServiceDescriptor;
use crate::codec::Codec;
use crate::domain::envelope::{codes, timestamp_now};
use crate::domain::headers::MALFORMED_HEADERS_HEADER;
use crate::domain::subject::{instance_subject, rpc_queue_group, rpc_subject};
use crate::election::{ElectionState, ElectionView, Leadership};
use crate::handler::{RpcError, panic_message};
use crate::ports::{BoxFuture, Message, MessageBus, Metrics, Subscription};
use crate::propagation;
use crate::rpc::call::{Call, EncodedReply, ReplyIds, error_reply};
use crate::rpc::context::RequestContext;
use crate::rpc::control::{self, ControlKind, EndpointStats, Identity};
use crate::rpc::layer::Layers;
use crate::rpc::metrics::ServerMetrics;
use crate::service::{MethodKind, MethodSpec, Service};
use crate::{Error, InstanceId, Result};

/// What bounds the receive loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerLimits {
    pub(crate) max_concurrency: usize,
    pub(crate) handler_timeout: Duration,
    pub(crate) drain_timeout: Duration,
}

/// What runs around every handler.
#[derive(Debug, Clone, Default)]
pub(crate) struct Middleware {
    pub(crate) layers: Option<Layers>,
}

/// What the receive loop and the service handle share: identity, per-method statistics,
/// the election as this instance sees it, handlers in flight.
pub(crate) struct ServerState {
    pub(crate) service: &'static str,
    pub(crate) version: &'static str,
    pub(crate) description: &'static str,
    /// `$SRV` metadata of the service (`control::service_metadata`) and of each endpoint, in
    /// the order of `endpoints` (`control::endpoint_metadata`).
    pub(crate) metadata: Vec<(&'static str, String)>,
    pub(crate) endpoint_metadata: Vec<Vec<(&'static str, String)>>,
    pub(crate) instance_id: InstanceId,
    pub(crate) started: String,
    pub(crate) endpoints: Vec<(&'static str, EndpointStats)>,
    pub(crate) kinds: Vec<MethodKind>,
    /// Set when the service has exclusive methods.
    pub(crate) election: OnceLock<ElectionView>,
    pub(crate) in_flight: AtomicUsize,
    /// `None` when the backend's metrics keep nothing.
    metrics: Option<ServerMetrics>,
}

impl ServerState {
    /// The state of an instance of `S` serving `methods`; `group`, the single-active group
    /// its exclusive methods are elected in.
    pub(crate) fn new<S: Service>(
        instance_id: InstanceId,
        methods: &[MethodSpec],
        group: &str,
        metrics: &Arc<dyn Metrics>,
    ) -> Self {
        let descriptor = ServiceDescriptor::of::<S>();
        let exclusive = methods.iter().any(|m| m.kind == MethodKind::Exclusive);
        let endpoint_metadata = methods
            .iter()
            .map(|spec| {
                let method = descriptor.methods.iter().find(|m| m.name == spec.name);
                control::endpoint_metadata(spec.kind, method)
            })
            .collect();
        ServerState {
            service: S::NAME,
            version: S::VERSION,
            description: S::DESCRIPTION,
            metadata: control::service_metadata(&descriptor, exclusive.then_some(group)),
            endpoint_metadata,
            instance_id,
            started: timestamp_now(),
            endpoints: methods
                .iter()
                .map(|spec| (spec.name, EndpointStats::default()))
                .collect(),
            kinds: methods.iter().map(|spec| spec.kind).collect(),
            election: OnceLock::new(),
            in_flight: AtomicUsize::new(0),
            metrics: ServerMetrics::new(
                metrics,
                S::NAME,
                &methods.iter().map(|spec| spec.name).collect::<Vec<_>>(),
            ),
        }
    }

    /// One more handler running.
    fn handler_started(&self) {
        let running = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(metrics) = &self.metrics {
            metrics.in_flight(running);
        }
    }

    /// One handler fewer running.
    fn handler_finished(&self) {
        let running = self
            .in_flight
            .fetch_sub(1, Ordering::Relaxed)
            .saturating_sub(1);
        if let Some(metrics) = &self.metrics {
            metrics.in_flight(running);
        }
    }

    /// Each method's name and kind, in dispatch-index order.
    fn methods(&self) -> impl Iterator<Item = (&'static str, MethodKind)> + '_ {
        self.endpoints
            .iter()
            .map(|(name, _)| *name)
            .zip(self.kinds.iter().copied())
    }
}

/// The RPC side of one instance: its subscriptions and the loop that serves them.
pub(crate) struct RpcServer<S> {
    /// Each method on the service's queue group and on this instance's own subject; the
    /// control plane.
    subscriptions: Intake,
    dispatcher: Dispatcher<S>,
}

/// The receive loop's state (apart from the subscriptions, which it consumes).
struct Dispatcher<S> {
    service: Arc<S>,
    bus: Arc<dyn MessageBus>,
    limits: ServerLimits,
    middleware: Middleware,
    shared: Arc<ServerState>,
    /// Exclusive methods' shared subjects, subscribed while this instance leads.
    exclusive_subjects: Vec<(String, usize)>,
}

impl<S: Service> RpcServer<S> {
    /// Subscribes every method of `S` (the shared subject of an exclusive method only
    /// later, while this instance leads) and the control plane.
    pub(crate) async fn subscribe(
        service: Arc<S>,
        bus: Arc<dyn MessageBus>,
        shared: Arc<ServerState>,
        limits: ServerLimits,
        middleware: Middleware,
    ) -> Result<Self> {
        let mut subscriptions: Intake = SelectAll::new();
        let mut wanted: Vec<(String, Option<String>, Route)> = Vec::new();
        let mut exclusive_subjects = Vec::new();
        for (index, (name, kind)) in shared.methods().enumerate() {
            let shared_subject = rpc_subject(S::NAME, name);
            if kind == MethodKind::Exclusive {
                exclusive_subjects.push((shared_subject, index));
            } else {
                wanted.push((
                    shared_subject,
                    Some(rpc_queue_group(S::NAME)),
                    Route::Method(index),
                ));
            }
            let direct = instance_subject(S::NAME, name, shared.instance_id.as_str());
            wanted.push((direct, None, Route::Method(index)));
        }
        for (subject, kind) in control::subjects(S::NAME, shared.instance_id.as_str()) {
            wanted.push((subject, None, Route::Control(kind)));
        }
        for (subject, group, route) in wanted {
            let sub = bus.subscribe(&subject, group.as_deref()).await?;
            subscriptions.push(Tagged { route, sub });
        }
        let dispatcher = Dispatcher {
            service,
            bus,
            limits,
            middleware,
            shared,
            exclusive_subjects,
        };
        Ok(RpcServer {
            subscriptions,
            dispatcher,
        })
    }

    /// Whether the service has `#[exclusive_rpc]` methods (and so needs an election).
    pub(crate) fn has_exclusive(&self) -> bool {
        !self.dispatcher.exclusive_subjects.is_empty()
    }

    /// Serves until `stop`, then drains.
    pub(crate) async fn run(self, stop: tokio::sync::oneshot::Receiver<()>) {
        self.dispatcher.run(self.subscriptions, stop).await;
    }
}

impl<S: Service> Dispatcher<S> {
    /// Polls the handlers inside this task (no task per request), at most `max_concurrency`
    /// at a time.
    async fn run(&self, mut subscriptions: Intake, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let mut in_flight = FuturesUnordered::new();
        let mut exclusive: Intake = SelectAll::new();
        let mut leading = false;
        let mut leadership = self.shared.election.get().map(|e| e.leadership.clone());
        loop {
            let room = in_flight.len() < self.limits.max_concurrency;
            tokio::select! {
                biased;
                _ = &mut stop => break,
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {
                    self.shared.handler_finished();
                }
                true = leadership_changed(&mut leadership) => {
                    let active = leadership
                        .as_ref()
                        .is_some_and(|l| l.borrow().state == ElectionState::Active);
                    if active && !leading {
                        for tagged in self.subscribe_exclusive().await {
                            exclusive.push(tagged);
                        }
                        leading = true;
                    } else if !active && leading {
                        // What already arrived is still dispatched (and answered NOT_ACTIVE).
                        drain_intake(&mut exclusive).await;
                        leading = false;
                    }
                }
                Some((route, message)) = exclusive.next(), if room && !exclusive.is_empty() => {
                    if let Route::Method(index) = route {
                        self.shared.handler_started();
                        in_flight.push(self.handle(index, message));
                    }
                }
                next = subscriptions.next(), if room => match next {
                    Some((Route::Method(index), message)) => {
                        self.shared.handler_started();
                        in_flight.push(self.handle(index, message));
                    }
                    // Cheap and rare: answered inline.
                    Some((Route::Control(kind), message)) => self.control(kind, message).await,
                    None => break,
                },
            }
        }
        // Stop intake first, without dropping requests the server already handed over:
        // unsubscribe, then dispatch what was on its way.
        drain_intake(&mut subscriptions).await;
        drain_intake(&mut exclusive).await;
        let mut intake = futures::stream::select(subscriptions, exclusive);
        // Bounded: a connection lost meanwhile may never end the drained streams.
        let deadline = tokio::time::Instant::now() + self.limits.drain_timeout;
        loop {
            match tokio::time::timeout_at(deadline, intake.next()).await {
                Ok(Some((Route::Method(index), message))) => {
                    self.shared.handler_started();
                    in_flight.push(self.handle(index, message));
                }
                Ok(Some((Route::Control(_), _))) => {}
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(service = S::NAME, "subscriptions did not finish draining");
                    break;
                }
            }
        }
        let drain = async {
            while in_flight.next().await.is_some() {
                self.shared.handler_finished();
            }
        };
        if tokio::time::timeout(self.limits.drain_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                service = S::NAME,
                cancelled = in_flight.len(),
                "drain timeout: cancelling in-flight handlers"
            );
            self.shared.in_flight.store(0, Ordering::Relaxed);
            if let Some(metrics) = &self.shared.metrics {
                metrics.in_flight(0);
            }
        }
    }

    async fn subscribe_exclusive(&self) -> Intake {
        let mut intake: Intake = SelectAll::new();
        for (subject, index) in &self.exclusive_subjects {
            let index = *index;
            match self
                .bus
                .subscribe(subject, Some(&rpc_queue_group(S::NAME)))
                .await
            {
                Ok(sub) => intake.push(Tagged {
                    route: Route::Method(index),
                    sub,
                }),
                Err(error) => {
                    tracing::error!(subject, %error, "could not subscribe an exclusive method")
                }
            }
        }
        intake
    }

    async fn control(&self, kind: ControlKind, message: Message) {
        let Some(reply_to) = message.reply else {
            return;
        };
        let identity = Identity {
            service: self.shared.service,
            version: self.shared.version,
            instance_id: self.shared.instance_id.as_str(),
            started: &self.shared.started,
            endpoints: &self.shared.endpoints,
            endpoint_metadata: &self.shared.endpoint_metadata,
            description: self.shared.description,
            metadata: &self.shared.metadata,
        };
        let reply = Message::new(reply_to, control::respond(kind, &identity));
        if let Err(error) = self.bus.publish(reply).await {
            tracing::warn!(%error, "could not answer a control request");
        }
    }

    fn handle(&self, index: usize, message: Message) -> impl Future<Output = ()> + use<S> {
        let method = self.shared.endpoints[index].0;
        let codec = Codec::detect(&message.payload);
        let span = handler_span(S::NAME, method, &message.subject);
        let trace = propagation::enter(&span, propagation::incoming(&message.headers));
        let mut call = Call {
            payload: message.payload,
            codec,
            headers: message.headers,
            method,
            instance_id: self.shared.instance_id.clone(),
            handler_timeout: self.limits.handler_timeout,
            correlation_id: None,
            trace_id: None,
            lease: None,
            trace,
            layers: self
                .middleware
                .layers
                .clone()
                .map(|layers| (layers, Arc::default())),
        };
        let seen = call
            .layers
            .as_ref()
            .map(|(layers, seen)| (layers.clone(), Arc::clone(seen)));
        let reply_to = message.reply;
        let bus = Arc::clone(&self.bus);
        let shared = Arc::clone(&self.shared);
        let not_active = (self.shared.kinds[index] == MethodKind::Exclusive)
            .then(|| self.shared.election.get())
            .flatten()
            .and_then(|view| match view.lease() {
                Some(lease) => {
                    call.lease = Some(lease);
                    None
                }
                None => Some(view.not_active_message(&self.shared.instance_id)),
            });
        let malformed = call.headers.get(MALFORMED_HEADERS_HEADER).map(|reason| {
            RpcError::new(
                codes::BAD_REQUEST,
                format!("the request's header block is malformed: {reason}"),
            )
        });
        // A standby (or a leader past its deadline) does not run exclusive work; it says
        // NOT_ACTIVE in the outer envelope, the form clients retry on.
        let refused = malformed
            .or_else(|| not_active.map(|message| RpcError::new(codes::NOT_ACTIVE, message)));
        let started = Instant::now();
        let handler = match refused {
            Some(error) => {
                let reply = call.error(error);
                Box::pin(async move { reply }) as BoxFuture<'static, EncodedReply>
            }
            None => S::__dispatch(&self.service, method, call),
        };
        async move {
            // Panics inside the handler are caught by `guard`; this catches the rest
            // (e.g. a panicking `Serialize` impl).
            let reply = match AssertUnwindSafe(handler).catch_unwind().await {
                Ok(reply) => reply,
                Err(panic) => panic_reply(codec, method, &*panic),
            };
            let error = reply.error.as_ref().map(|e| (e.code(), e.message()));
            let elapsed = started.elapsed();
            shared.endpoints[index].1.record(elapsed, error);
            if let Some(metrics) = &shared.metrics {
                metrics.request(index, error.map(|(code, _)| code), elapsed);
            }
            if let Some((layers, seen)) = seen
                && let Some(context) = seen.get()
            {
                after_layers(&layers, context, &reply, method);
            }
            if let Some((code, message)) = error {
                tracing::debug!(code, message, "error reply");
                propagation::record_failure(&tracing::Span::current(), code);
            }
            if let Some(reply_to) = reply_to {
                publish_reply(&*bus, reply_to, reply, codec, method).await;
            }
        }
        .instrument(span)
    }
}

/// The span a handler runs in: a root in this process (its parent is the caller's, remote),
/// named and described as OpenTelemetry's RPC and messaging conventions say.
fn handler_span(service: &'static str, method: &'static str, subject: &str) -> tracing::Span {
    tracing::debug_span!(
        parent: None,
        "rpc",
        service,
        method,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        "otel.name" = format_args!("{service}/{method}"),
        "otel.kind" = "server",
        "rpc.system" = "aegis",
        "rpc.service" = service,
        "rpc.method" = method,
        "messaging.system" = "nats",
        "messaging.destination.name" = subject,
        "otel.status_code" = tracing::field::Empty,
        "error.type" = tracing::field::Empty,
        "rpc.response.status_code" = tracing::field::Empty,
    )
}

/// Runs the layers' `after` with what the caller is answered; a panic there is logged, not
/// passed on (the reply is already made, and the receive loop must go on).
fn after_layers(layers: &Layers, context: &RequestContext, reply: &EncodedReply, method: &str) {
    let outcome = reply.error.as_ref().map_or(Ok(()), Err);
    let after = AssertUnwindSafe(|| layers.after(context, outcome));
    if let Err(panic) = std::panic::catch_unwind(after) {
        let panic = panic_message(&*panic);
        tracing::error!(method, panic, "a layer's `after` panicked");
    }
}

/// Publishes a reply; one the transport refuses (larger than the server's `max_payload`,
/// say) is replaced by an error reply, so that the caller is not left to time out.
async fn publish_reply(
    bus: &dyn MessageBus,
    reply_to: String,
    reply: EncodedReply,
    codec: Codec,
    method: &'static str,
) {
    let message = Message {
        subject: reply_to.clone(),
        reply: None,
        headers: reply.headers,
        payload: reply.payload,
    };
    let Err(error) = bus.publish(message).await else {
        return;
    };
    tracing::warn!(method, %error, "could not publish reply");
    let code = match error {
        Error::BadRequest { .. } => codes::PAYLOAD_TOO_LARGE,
        _ => codes::INTERNAL,
    };
    let message = format!("the reply of `{method}` could not be sent: {error}");
    let fallback = error_reply(codec, ReplyIds::default(), RpcError::new(code, message));
    let message = Message {
        subject: reply_to,
        reply: None,
        headers: fallback.headers,
        payload: fallback.payload,
    };
    if let Err(error) = bus.publish(message).await {
        tracing::warn!(method, %error, "could not publish the error reply either");
    }
}

fn panic_reply(
    codec: Codec,
    method: &'static str,
    panic: &(dyn std::any::Any + Send),
) -> EncodedReply {
    let message = format!("handler `{method}` panicked: {}", panic_message(panic));
    error_reply(
        codec,
        ReplyIds::default(),
        RpcError::new(codes::INTERNAL, message),
    )
}

/// Resolves to `true` on a leadership change; never, without an election.
async fn leadership_changed(leadership: &mut Option<watch::Receiver<Leadership>>) -> bool {
    match leadership {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Where an incoming message goes.
#[derive(Clone, Copy)]
enum Route {
    /// The handler at this index of `ServerState::endpoints`.
    Method(usize),
    Control(ControlKind),
}

/// A subscription and where its messages go.
struct Tagged {
    route: Route,
    sub: Subscription,
}

impl futures::Stream for Tagged {
    type Item = (Route, Message);

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let route = self.route;
        self.sub.poll_next_unpin(cx).map(|m| m.map(|m| (route, m)))
    }
}

type Intake = SelectAll<Tagged>;

/// Unsubscribes every subscription of `intake`; it then yields what was already on its way
/// and ends.
async fn drain_intake(intake: &mut Intake) {
    for tagged in intake.iter_mut() {
        tagged.sub.drain().await;
    }
}
