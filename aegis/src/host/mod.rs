//! The running service: start (hooks, subscriptions), dispatch loop, graceful stop.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, SelectAll};
use futures::{FutureExt, StreamExt};
use tokio::sync::{Mutex, watch};
use tracing::Instrument;

use crate::backend::Backend;
use crate::codec::Codec;
use crate::commands::worker::{CommandConfig, CommandRunner};
use crate::consumer::Runner;
use crate::domain::envelope::{TRACEPARENT_HEADER, codes, timestamp_now};
use crate::domain::instance::{InstanceStatus, ServiceInstance};
use crate::domain::names::{validate_method_name, validate_service_name, validate_version};
use crate::domain::subject::{instance_subject, rpc_queue_group, rpc_subject};
use crate::election::LeaseCheck;
use crate::election::{Election, ElectionConfig, ElectionState, Leadership};
use crate::events::subscriber::{EventConfig, EventRunner};
use crate::handler::RpcError;
use crate::handler::panic_message;
use crate::ports::Clock;
use crate::ports::{BoxFuture, Message, MessageBus, Subscription};
use crate::registry::KvServiceRegistry;
use crate::registry::health::{Health, HealthManager, UnhealthyCallback};
use crate::rpc::call::{Call, EncodedReply, error_reply};
use crate::rpc::control::{self, ControlKind, EndpointStats, Identity};
use crate::service::LifecycleState;
use crate::service::MethodKind;
use crate::service::Service;
use crate::{Error, InstanceId, Result};

/// Settings of one service instance.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    instance_id: Option<InstanceId>,
    max_concurrency: usize,
    handler_timeout: Duration,
    drain_timeout: Duration,
    registry_ttl: Duration,
    heartbeat_interval: Duration,
    enable_registration: bool,
    unhealthy_after: u32,
    election: ElectionConfig,
    events: EventConfig,
    commands: CommandConfig,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            instance_id: None,
            max_concurrency: 1024,
            handler_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            registry_ttl: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(10),
            enable_registration: true,
            unhealthy_after: 3,
            election: ElectionConfig::default(),
            events: EventConfig::default(),
            commands: CommandConfig::default(),
        }
    }
}

impl ServiceConfig {
    /// Defaults: generated instance id, 1024 concurrent handlers, 30 s handler timeout,
    /// 10 s drain timeout; registered, heartbeat every 10 s, registry TTL 30 s, unhealthy
    /// after 3 failed heartbeats (the Python SDK's values).
    pub fn new() -> Self {
        Self::default()
    }

    /// How long after its last heartbeat an instance counts as gone (seed: `registry_ttl`).
    pub fn registry_ttl(mut self, ttl: Duration) -> Self {
        self.registry_ttl = ttl;
        self
    }

    /// How often the registry entry is refreshed (seed: `heartbeat_interval`); must be less
    /// than the registry TTL.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Whether the instance registers itself in the service registry (seed:
    /// `enable_registration`).
    pub fn enable_registration(mut self, enable: bool) -> Self {
        self.enable_registration = enable;
        self
    }

    /// The single-active group this instance joins when the service has `#[exclusive_rpc]`
    /// methods (seed: `group_id`; default `default`).
    pub fn group_id(mut self, group_id: impl Into<String>) -> Self {
        self.election.group_id = group_id.into();
        self
    }

    /// The leader lease (seed: `leader_ttl_seconds`; default 10 s); renew interval, margin
    /// and candidate poll interval follow from it (see [`ElectionConfig::new`]).
    pub fn leader_ttl(mut self, ttl: Duration) -> Self {
        self.election = ElectionConfig::new(std::mem::take(&mut self.election.group_id), ttl);
        self
    }

    /// Every election setting at once.
    pub fn election(mut self, election: ElectionConfig) -> Self {
        self.election = election;
        self
    }

    /// How `#[subscribe]` handlers consume events (deliveries, backoff, start position).
    pub fn events(mut self, events: EventConfig) -> Self {
        self.events = events;
        self
    }

    /// How `#[command]` handlers run (concurrency, priority window, backoff, timeouts).
    pub fn commands(mut self, commands: CommandConfig) -> Self {
        self.commands = commands;
        self
    }

    /// Consecutive failed heartbeats before the instance reports itself unhealthy.
    pub fn unhealthy_after(mut self, failures: u32) -> Self {
        self.unhealthy_after = failures.max(1);
        self
    }

    /// Checks the timing invariants.
    pub fn validate(&self) -> Result<()> {
        if self.heartbeat_interval.is_zero() {
            return Err(Error::invalid(
                "service config",
                "heartbeat_interval must be positive",
            ));
        }
        if self.heartbeat_interval >= self.registry_ttl {
            return Err(Error::invalid(
                "service config",
                format!(
                    "heartbeat_interval ({:?}) must be less than registry_ttl ({:?}), or a live \
                     instance would look dead between two heartbeats",
                    self.heartbeat_interval, self.registry_ttl
                ),
            ));
        }
        Ok(())
    }

    /// Uses `id` as the instance id instead of `{service}-{8 hex}`.
    pub fn instance_id(mut self, id: InstanceId) -> Self {
        self.instance_id = Some(id);
        self
    }

    /// At most `n` handlers run at once (further requests wait in the subscription).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// The longest a handler may run; the caller's own timeout shortens it further.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// How long a graceful stop waits for in-flight handlers before cancelling them.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }
}

type Hook<S> = Box<dyn FnOnce(Arc<S>) -> BoxFuture<'static, Result<()>> + Send>;

/// Builds and starts one instance of a service.
///
/// ```
/// # use aegis::{Backend, ServiceBuilder, ServiceConfig};
/// # struct Greeter;
/// # #[aegis::service(name = "greeter", version = "1.0.0")]
/// # impl Greeter {}
/// # #[tokio::main] async fn main() -> aegis::Result<()> {
/// let backend = Backend::in_memory();
/// let handle = ServiceBuilder::new(Greeter)
///     .config(ServiceConfig::new().drain_timeout(std::time::Duration::from_secs(2)))
///     .on_start(|_greeter| async { println!("warming caches"); Ok(()) })
///     .start(&backend)
///     .await?;
/// handle.stop().await?;
/// # Ok(()) }
/// ```
pub struct ServiceBuilder<S: Service> {
    service: Arc<S>,
    config: ServiceConfig,
    on_start: Vec<Hook<S>>,
    on_stop: Vec<Hook<S>>,
    on_unhealthy: Option<UnhealthyCallback>,
}

impl<S: Service> fmt::Debug for ServiceBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceBuilder")
            .field("service", &S::NAME)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: Service> ServiceBuilder<S> {
    /// A builder for `service` with the default configuration.
    pub fn new(service: S) -> Self {
        Self::from_arc(Arc::new(service))
    }

    /// Like [`new`](Self::new), for a service you keep a handle to.
    pub fn from_arc(service: Arc<S>) -> Self {
        ServiceBuilder {
            service,
            config: ServiceConfig::default(),
            on_start: Vec::new(),
            on_stop: Vec::new(),
            on_unhealthy: None,
        }
    }

    /// Replaces the configuration.
    pub fn config(mut self, config: ServiceConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs `hook` while STARTING, before any request is accepted; an error fails the start.
    pub fn on_start<F, Fut>(mut self, hook: F) -> Self
    where
        F: FnOnce(Arc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.on_start.push(Box::new(move |s| Box::pin(hook(s))));
        self
    }

    /// Runs `hook` while STOPPING, after in-flight requests have drained; an error ends the
    /// service in FAILED.
    pub fn on_stop<F, Fut>(mut self, hook: F) -> Self
    where
        F: FnOnce(Arc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.on_stop.push(Box::new(move |s| Box::pin(hook(s))));
        self
    }

    /// Calls `callback` when heartbeats have failed `unhealthy_after` times in a row (the
    /// instance keeps trying; [`ServiceHandle::health_changes`] shows the way back).
    pub fn on_unhealthy(mut self, callback: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_unhealthy = Some(Arc::new(callback));
        self
    }

    /// Starts the service on `backend` and returns once it serves (state STARTED).
    pub async fn start(self, backend: &Backend) -> Result<ServiceHandle> {
        let ServiceBuilder {
            service,
            config,
            on_start,
            on_stop,
            on_unhealthy,
        } = self;
        validate_service_name(S::NAME)?;
        validate_version(S::VERSION)?;
        config.validate()?;
        let instance_id = config
            .instance_id
            .clone()
            .unwrap_or_else(|| InstanceId::generate(S::NAME));
        let (state, _) = watch::channel(LifecycleState::Initializing);
        let methods = S::__methods();
        for spec in &methods {
            validate_method_name(spec.name)?;
        }
        let shared = Arc::new(Shared {
            service: S::NAME,
            version: S::VERSION,
            instance_id: instance_id.clone(),
            started: timestamp_now(),
            endpoints: methods
                .iter()
                .map(|spec| (spec.name, EndpointStats::default()))
                .collect(),
            kinds: methods.iter().map(|spec| spec.kind).collect(),
            election: OnceLock::new(),
            state,
            health: watch::channel(Health::Healthy).0,
            stop: Mutex::new(None),
            in_flight: AtomicUsize::new(0),
            commands_waiting: Arc::new(AtomicUsize::new(0)),
        });
        let handle = ServiceHandle {
            shared: Arc::clone(&shared),
        };
        shared.transition(LifecycleState::Starting);

        let fail = |error: Error| {
            tracing::error!(service = S::NAME, instance = %instance_id, %error, "start failed");
            shared.transition(LifecycleState::Failed);
            error
        };
        for hook in on_start {
            if let Err(error) = run_hook(hook, &service).await {
                return Err(fail(error));
            }
        }
        let bus = Arc::clone(backend.bus());
        let mut subscriptions: Intake = SelectAll::new();
        // Each method on the service's queue group, and on this instance alone (for clients
        // that pick an instance); the control plane on plain subscriptions.
        let mut wanted: Vec<(String, Option<String>, Route)> = Vec::new();
        let mut exclusive_subjects = Vec::new();
        for (index, spec) in methods.iter().enumerate() {
            let group = rpc_queue_group(S::NAME);
            let shared_subject = rpc_subject(S::NAME, spec.name);
            if spec.kind == MethodKind::Exclusive {
                // Only the leader subscribes these (see `Dispatcher::run`).
                exclusive_subjects.push((shared_subject, index));
            } else {
                wanted.push((shared_subject, Some(group), Route::Method(index)));
            }
            let direct = instance_subject(S::NAME, spec.name, instance_id.as_str());
            wanted.push((direct, None, Route::Method(index)));
        }
        for (subject, kind) in control::subjects(S::NAME, instance_id.as_str()) {
            wanted.push((subject, None, Route::Control(kind)));
        }
        for (subject, group, route) in wanted {
            match bus.subscribe(&subject, group.as_deref()).await {
                Ok(sub) => subscriptions.push(Tagged { route, sub }),
                Err(error) => return Err(fail(error)),
            }
        }

        let election = if exclusive_subjects.is_empty() {
            None
        } else {
            if let Some(server) = backend.bus().server_info()
                && !server.cas_is_safe()
            {
                let error = Error::invalid(
                    "server",
                    format!(
                        "nats-server {} in a cluster: KV compare-and-set is not safe on \
                         replicated buckets before 2.11, so leader election could elect two \
                         leaders; use nats-server 2.11 or later",
                        server.version
                    ),
                );
                return Err(fail(error));
            }
            let joined = Election::join(
                backend.kv().as_ref(),
                S::NAME,
                instance_id.as_str(),
                config.election.clone(),
                Arc::clone(backend.clock()),
                Arc::clone(backend.metrics()),
            )
            .await;
            let election = match joined {
                Ok(election) => Arc::new(election),
                Err(error) => return Err(fail(error)),
            };
            let _ = shared.election.set(ElectionView {
                leadership: election.leadership(),
                clock: Arc::clone(backend.clock()),
                group: config.election.group_id.clone(),
            });
            let (stop_election, stopped) = watch::channel(false);
            let task = tokio::spawn(Arc::clone(&election).run(stopped));
            Some(ElectionTask {
                stop: stop_election,
                task,
            })
        };

        let heartbeat = if config.enable_registration {
            let manager = Arc::new(HealthManager {
                registry: KvServiceRegistry::new(backend),
                entry: tokio::sync::Mutex::new(ServiceInstance {
                    service_name: S::NAME.to_owned(),
                    instance_id: instance_id.to_string(),
                    version: S::VERSION.to_owned(),
                    status: InstanceStatus::Active,
                    last_heartbeat: String::new(),
                    sticky_active_group: shared.election.get().map(|e| e.group.clone()),
                    metadata: [(String::from("start_time"), shared.started.clone().into())]
                        .into_iter()
                        .collect(),
                }),
                interval: config.heartbeat_interval,
                unhealthy_after: config.unhealthy_after,
                clock: Arc::clone(backend.clock()),
                metrics: Arc::clone(backend.metrics()),
                health: shared.health.clone(),
                on_unhealthy,
                leadership: shared.election.get().map(|e| e.leadership.clone()),
                deregistered: std::sync::atomic::AtomicBool::new(false),
            });
            // A failed first registration is not fatal: the heartbeat loop keeps trying.
            if let Err(error) = manager.beat().await {
                tracing::warn!(service = S::NAME, %error, "registration failed; retrying with each heartbeat");
            }
            let (stop_heartbeat, stopped) = watch::channel(false);
            let task = tokio::spawn(Arc::clone(&manager).run(stopped));
            // ACTIVE / STANDBY reach the registry as soon as they change.
            // Not after deregistration: the release at stop must not re-register us.
            if let Some(view) = shared.election.get() {
                let mut changes = view.leadership.clone();
                let mut stopped = stop_heartbeat.subscribe();
                let manager = Arc::clone(&manager);
                tokio::spawn(async move {
                    let mut last = None;
                    loop {
                        let state = changes.borrow_and_update().state;
                        if last != Some(state) && state != ElectionState::Electing {
                            last = Some(state);
                            let _ = manager.beat().await;
                        }
                        tokio::select! {
                            changed = changes.changed() => {
                                if changed.is_err() {
                                    return;
                                }
                            }
                            _ = stopped.wait_for(|s| *s) => return,
                        }
                    }
                });
            }
            Some(Heartbeat {
                manager,
                stop: stop_heartbeat,
                task,
            })
        } else {
            None
        };

        let mut runners = Vec::new();
        let timeouts = (config.handler_timeout, config.drain_timeout);
        match EventRunner::start(&service, backend, &instance_id, &config.events, timeouts).await {
            Ok(runner) => runners.extend(runner),
            Err(error) => return Err(fail(error)),
        }
        match CommandRunner::start(
            &service,
            backend,
            (&instance_id, &shared.commands_waiting),
            &config.commands,
            config.drain_timeout,
        )
        .await
        {
            Ok(runner) => runners.extend(runner),
            Err(error) => {
                futures::future::join_all(runners.into_iter().map(Runner::stop)).await;
                return Err(fail(error));
            }
        }

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (stop_runners, runners_stopped) = tokio::sync::oneshot::channel::<()>();
        let dispatcher = Dispatcher {
            service: Arc::clone(&service),
            bus,
            config: config.clone(),
            shared: Arc::clone(&shared),
            exclusive_subjects,
        };
        let task = tokio::spawn(async move {
            // RPC, events and commands drain side by side.
            let runners = async move {
                let _ = runners_stopped.await;
                futures::future::join_all(runners.into_iter().map(Runner::stop)).await;
            };
            tokio::join!(dispatcher.run(subscriptions, stop_rx), runners);
            // In-flight exclusive work is done: hand the lease over.
            if let Some(ElectionTask { stop, task }) = election {
                let _ = stop.send(true);
                let _ = task.await;
            }
            let mut failed = false;
            for hook in on_stop {
                if let Err(error) = run_hook(hook, &service).await {
                    tracing::error!(service = S::NAME, %error, "on_stop hook failed");
                    failed = true;
                }
            }
            failed
        });
        *shared.stop.lock().await = Some(Stopper {
            stop_tx,
            stop_runners,
            task,
            heartbeat,
        });
        shared.transition(LifecycleState::Started);
        Ok(handle)
    }
}

async fn run_hook<S>(hook: Hook<S>, service: &Arc<S>) -> Result<()> {
    match AssertUnwindSafe(hook(Arc::clone(service)))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(panic) => Err(Error::Closed(format!(
            "lifecycle hook panicked: {}",
            panic_message(&*panic)
        ))),
    }
}

struct Stopper {
    stop_tx: tokio::sync::oneshot::Sender<()>,
    stop_runners: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<bool>,
    heartbeat: Option<Heartbeat>,
}

struct Heartbeat {
    manager: Arc<HealthManager>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    /// Stops heartbeating and removes the registry entry, so that discovery stops routing
    /// here before intake closes.
    async fn deregister(self, service: &'static str, instance_id: &InstanceId) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Err(error) = self.manager.deregister(service, instance_id.as_str()).await {
            tracing::warn!(service, %error, "could not deregister");
        }
    }
}

/// What the dispatcher and the handle see of the election.
struct ElectionView {
    leadership: watch::Receiver<Leadership>,
    clock: Arc<dyn Clock>,
    group: String,
}

impl ElectionView {
    /// The lease to run an exclusive handler under, if this instance holds one now.
    fn lease(&self) -> Option<LeaseCheck> {
        let token = self.leadership.borrow().token_at(self.clock.now())?;
        Some(LeaseCheck {
            leadership: self.leadership.clone(),
            clock: Arc::clone(&self.clock),
            token,
        })
    }

    fn not_active_message(&self, instance_id: &InstanceId) -> String {
        let leadership = self.leadership.borrow();
        let leader = leadership.leader.as_deref().unwrap_or("unknown");
        format!(
            "This instance is not active. Instance {instance_id} is in {} mode (group `{}`, leader {leader}).",
            ElectionState::Standby,
            self.group
        )
    }
}

struct ElectionTask {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
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
    /// The handler at this index of `Shared::endpoints`.
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

struct Shared {
    service: &'static str,
    version: &'static str,
    instance_id: InstanceId,
    started: String,
    endpoints: Vec<(&'static str, EndpointStats)>,
    kinds: Vec<MethodKind>,
    /// Set when the service has exclusive methods.
    election: OnceLock<ElectionView>,
    state: watch::Sender<LifecycleState>,
    health: watch::Sender<Health>,
    stop: Mutex<Option<Stopper>>,
    in_flight: AtomicUsize,
    /// Commands this instance holds, waiting for a free slot.
    commands_waiting: Arc<AtomicUsize>,
}

impl Shared {
    fn transition(&self, to: LifecycleState) {
        let from = self.state.send_replace(to);
        tracing::info!(service = self.service, instance = %self.instance_id, %from, %to, "lifecycle");
    }
}

/// A running service instance. Cheap to clone; dropping it does not stop the service.
#[derive(Clone)]
pub struct ServiceHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("service", &self.shared.service)
            .field("instance_id", &self.shared.instance_id)
            .field("state", &self.state())
            .finish()
    }
}

impl ServiceHandle {
    /// The service name.
    pub fn service_name(&self) -> &'static str {
        self.shared.service
    }

    /// The service version.
    pub fn version(&self) -> &'static str {
        self.shared.version
    }

    /// This instance's id.
    pub fn instance_id(&self) -> &InstanceId {
        &self.shared.instance_id
    }

    /// The current lifecycle state.
    pub fn state(&self) -> LifecycleState {
        *self.shared.state.borrow()
    }

    /// A receiver that sees every later state change.
    pub fn state_changes(&self) -> watch::Receiver<LifecycleState> {
        self.shared.state.subscribe()
    }

    /// Whether heartbeats get through (always healthy without registration).
    pub fn health(&self) -> Health {
        *self.shared.health.borrow()
    }

    /// A receiver that sees every later health change.
    pub fn health_changes(&self) -> watch::Receiver<Health> {
        self.shared.health.subscribe()
    }

    /// For services with `#[exclusive_rpc]` methods: whether this instance holds the lease of
    /// its group now (and so runs exclusive calls). `false` otherwise.
    pub fn is_active(&self) -> bool {
        self.shared
            .election
            .get()
            .is_some_and(|view| view.lease().is_some())
    }

    /// For services with `#[exclusive_rpc]` methods: the group's leadership as this instance
    /// sees it (state, leader, fencing token, deadline).
    pub fn leadership(&self) -> Option<Leadership> {
        self.shared
            .election
            .get()
            .map(|view| view.leadership.borrow().clone())
    }

    /// For services with `#[exclusive_rpc]` methods: every later leadership change.
    pub fn leadership_changes(&self) -> Option<watch::Receiver<Leadership>> {
        self.shared
            .election
            .get()
            .map(|view| view.leadership.clone())
    }

    /// Handlers running right now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// Commands this instance has taken from the stream and holds until a slot frees up
    /// (they run in priority order).
    pub fn commands_waiting(&self) -> usize {
        self.shared.commands_waiting.load(Ordering::Relaxed)
    }

    /// Stops gracefully: stop intake, wait for in-flight handlers (bounded by the drain
    /// timeout), run `on_stop` hooks, then STOPPED (FAILED if a hook failed).
    ///
    /// Idempotent: later calls wait for the same outcome.
    pub async fn stop(&self) -> Result<()> {
        let stopper = self.shared.stop.lock().await.take();
        if let Some(Stopper {
            stop_tx,
            stop_runners,
            task,
            heartbeat,
        }) = stopper
        {
            self.shared.transition(LifecycleState::Stopping);
            if let Some(heartbeat) = heartbeat {
                heartbeat
                    .deregister(self.shared.service, &self.shared.instance_id)
                    .await;
            }
            let _ = stop_tx.send(());
            let _ = stop_runners.send(());
            let failed = task.await.unwrap_or(true);
            self.shared.transition(if failed {
                LifecycleState::Failed
            } else {
                LifecycleState::Stopped
            });
        }
        let mut changes = self.state_changes();
        let state = *changes
            .wait_for(|s| s.is_terminal())
            .await
            .map_err(|_| Error::Closed(String::from("service state dropped")))?;
        match state {
            LifecycleState::Failed => Err(Error::Closed(format!(
                "service `{}` stopped with a failure",
                self.shared.service
            ))),
            _ => Ok(()),
        }
    }
}

struct Dispatcher<S> {
    service: Arc<S>,
    bus: Arc<dyn MessageBus>,
    config: ServiceConfig,
    shared: Arc<Shared>,
    /// Exclusive methods' shared subjects, subscribed while this instance leads.
    exclusive_subjects: Vec<(String, usize)>,
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
            let room = in_flight.len() < self.config.max_concurrency;
            tokio::select! {
                biased;
                _ = &mut stop => break,
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {
                    self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
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
                        self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
                        in_flight.push(self.handle(index, message));
                    }
                }
                next = subscriptions.next(), if room => match next {
                    Some((Route::Method(index), message)) => {
                        self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
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
        let deadline = tokio::time::Instant::now() + self.config.drain_timeout;
        loop {
            match tokio::time::timeout_at(deadline, intake.next()).await {
                Ok(Some((Route::Method(index), message))) => {
                    self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
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
                self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            }
        };
        if tokio::time::timeout(self.config.drain_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                service = S::NAME,
                cancelled = in_flight.len(),
                "drain timeout: cancelling in-flight handlers"
            );
            self.shared.in_flight.store(0, Ordering::Relaxed);
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
        };
        let reply = Message::new(reply_to, control::respond(kind, &identity));
        if let Err(error) = self.bus.publish(reply).await {
            tracing::warn!(%error, "could not answer a control request");
        }
    }

    fn handle(&self, index: usize, message: Message) -> impl Future<Output = ()> + use<S> {
        let method = self.shared.endpoints[index].0;
        let codec = Codec::detect(&message.payload);
        let span = tracing::debug_span!(
            "rpc",
            service = S::NAME,
            method,
            traceparent = message.headers.get(TRACEPARENT_HEADER),
        );
        let mut call = Call {
            payload: message.payload,
            codec,
            headers: message.headers,
            method,
            instance_id: self.shared.instance_id.clone(),
            handler_timeout: self.config.handler_timeout,
            correlation_id: None,
            trace_id: None,
            lease: None,
        };
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
        let started = Instant::now();
        let handler = match not_active {
            // A standby (or a leader past its deadline) does not run exclusive work; it says
            // NOT_ACTIVE in the outer envelope, the form clients retry on.
            Some(message) => {
                let reply = call.error(RpcError::new(codes::NOT_ACTIVE, message));
                Box::pin(async move { reply }) as crate::ports::BoxFuture<'static, EncodedReply>
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
            shared.endpoints[index].1.record(started.elapsed(), error);
            if let Some((code, message)) = error {
                tracing::debug!(code, message, "error reply");
            }
            if let Some(reply_to) = reply_to {
                publish_reply(&*bus, reply_to, reply, codec, method).await;
            }
        }
        .instrument(span)
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
    let fallback = error_reply(codec, (None, None), RpcError::new(code, message));
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
    error_reply(codec, (None, None), RpcError::new(codes::INTERNAL, message))
}
