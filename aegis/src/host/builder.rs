//! Building and starting a service instance: hooks, RPC subscriptions, election,
//! registration, event and command runners, in that order.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use futures::FutureExt;
use tokio::sync::{Mutex, watch};

use crate::backend::Backend;
use crate::commands::worker::CommandRunner;
use crate::consumer::{Runner, Timeouts};
use crate::domain::instance::{InstanceStatus, RUST_MARKER, RUST_MARKER_KEY, ServiceInstance};
use crate::domain::names::{validate_method_name, validate_service_name, validate_version};
use crate::election::ElectionTask;
use crate::events::subscriber::EventRunner;
use crate::handler::panic_message;
use crate::host::config::ServiceConfig;
use crate::host::handle::{ServiceHandle, Shared, Stopper};
use crate::ports::BoxFuture;
use crate::registry::KvServiceRegistry;
use crate::registry::health::{Health, HealthManager, Heartbeat, UnhealthyCallback};
use crate::rpc::layer::{Layer, Layers};
use crate::rpc::server::{Middleware, RpcServer, ServerState};
use crate::service::{LifecycleState, Service};
use crate::{Error, InstanceId, Result};

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
    layers: Vec<Arc<dyn Layer>>,
}

impl<S: Service> fmt::Debug for ServiceBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceBuilder")
            .field("service", &S::NAME)
            .field("config", &self.config)
            .field("layers", &self.layers.len())
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
            layers: Vec::new(),
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

    /// Calls `callback` each time the instance becomes UNHEALTHY: heartbeats have failed
    /// `unhealthy_after` times in a row (the instance keeps trying), or a Python instance is
    /// in its single-active group (see [`crate::Health`]).
    /// [`ServiceHandle::health_changes`] shows the way back.
    pub fn on_unhealthy(mut self, callback: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_unhealthy = Some(Arc::new(callback));
        self
    }

    /// Runs `layer` around every `#[rpc]` and `#[exclusive_rpc]` handler (see [`Layer`]):
    /// after the layers added before it, before the handler.
    ///
    /// ```
    /// # use aegis::{Backend, RpcError, ServiceBuilder};
    /// # use aegis::middleware::layer_fn;
    /// # struct Greeter;
    /// # #[aegis::service(name = "greeter", version = "1.0.0")]
    /// # impl Greeter {}
    /// # #[tokio::main] async fn main() -> aegis::Result<()> {
    /// let handle = ServiceBuilder::new(Greeter)
    ///     .layer(layer_fn(|request| match request.headers().get("x-tenant") {
    ///         Some(_) => Ok(()),
    ///         None => Err(RpcError::bad_request("no `x-tenant` header")),
    ///     }))
    ///     .start(&Backend::in_memory())
    ///     .await?;
    /// # handle.stop().await }
    /// ```
    pub fn layer(mut self, layer: impl Layer) -> Self {
        self.layers.push(Arc::new(layer));
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
            layers,
        } = self;
        validate_service_name(S::NAME)?;
        validate_version(S::VERSION)?;
        config.validate()?;
        let methods = S::__methods();
        for spec in &methods {
            validate_method_name(spec.name)?;
        }
        let instance_id = config
            .instance_id
            .clone()
            .unwrap_or_else(|| InstanceId::generate(S::NAME));
        let server = Arc::new(ServerState::new::<S>(
            instance_id.clone(),
            &methods,
            &config.election.group_id,
            backend.metrics(),
        ));
        let shared = Arc::new(Shared {
            server: Arc::clone(&server),
            state: watch::channel(LifecycleState::Initializing).0,
            health: watch::channel(Health::Healthy).0,
            stop: Mutex::new(None),
            commands_waiting: Arc::new(AtomicUsize::new(0)),
            lame_duck: backend.bus().lame_duck_notices(),
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
            run_hook(hook, &service).await.map_err(fail)?;
        }
        let bus = Arc::clone(backend.bus());
        let limits = config.server_limits();
        let rpc = RpcServer::subscribe(
            Arc::clone(&service),
            Arc::clone(&bus),
            Arc::clone(&server),
            limits,
            Middleware {
                layers: Layers::new(layers),
            },
        )
        .await
        .map_err(fail)?;
        let election = if rpc.has_exclusive() {
            let (view, task) =
                ElectionTask::start(backend, S::NAME, &instance_id, &config.election)
                    .await
                    .map_err(fail)?;
            let _ = server.election.set(view);
            Some(task)
        } else {
            None
        };
        let heartbeat = if config.enable_registration {
            let manager = health_manager(S::NAME, backend, &config, &shared, on_unhealthy);
            Some(Heartbeat::start(S::NAME, manager).await.map_err(fail)?)
        } else {
            None
        };
        let runners = match start_runners(&service, backend, &config, &shared).await {
            Ok(runners) => runners,
            Err(error) => {
                // Nothing of an instance that never served stays: its RPC subscriptions (no
                // request waits in them for nobody), its registry entry (discovery would list
                // it), its lease (a standby takes over now, not after the TTL).
                drop(rpc);
                if let Some(heartbeat) = heartbeat {
                    heartbeat.deregister(S::NAME, &instance_id).await;
                }
                if let Some(election) = election {
                    election.stop().await;
                }
                return Err(fail(error));
            }
        };

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (stop_runners, runners_stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // RPC, events and commands drain side by side.
            let runners = async move {
                let _ = runners_stopped.await;
                futures::future::join_all(runners.into_iter().map(Runner::stop)).await;
            };
            tokio::join!(rpc.run(stop_rx), runners);
            // The last replies and outcomes leave before the process may exit.
            match tokio::time::timeout(limits.drain_timeout, bus.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(service = S::NAME, %error, "could not flush"),
                Err(_) => tracing::warn!(service = S::NAME, "flush timed out"),
            }
            // In-flight exclusive work is done: hand the lease over.
            if let Some(election) = election {
                election.stop().await;
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

/// The registry entry of this instance (marked as aegis's) and how it is kept fresh.
fn health_manager(
    service: &'static str,
    backend: &Backend,
    config: &ServiceConfig,
    shared: &Shared,
    on_unhealthy: Option<UnhealthyCallback>,
) -> HealthManager {
    let server = &shared.server;
    let election = server.election.get();
    let metadata = [
        (String::from("start_time"), server.started.clone().into()),
        (String::from(RUST_MARKER_KEY), RUST_MARKER.into()),
    ];
    HealthManager {
        service,
        registry: KvServiceRegistry::new(backend).write_python_keys(config.python_registry_keys),
        entry: Mutex::new(ServiceInstance {
            service_name: server.service.to_owned(),
            instance_id: server.instance_id.to_string(),
            version: server.version.to_owned(),
            status: InstanceStatus::Active,
            last_heartbeat: String::new(),
            sticky_active_group: election.map(|e| e.group.clone()),
            metadata: metadata.into_iter().collect(),
        }),
        interval: config.heartbeat_interval,
        unhealthy_after: config.unhealthy_after,
        registry_ttl: config.registry_ttl,
        clock: Arc::clone(backend.clock()),
        metrics: Arc::clone(backend.metrics()),
        health: shared.health.clone(),
        on_unhealthy,
        leadership: election.map(|e| e.leadership.clone()),
        group: election.map(|e| e.group.clone()),
        causes: std::sync::Mutex::default(),
        deregistered: std::sync::atomic::AtomicBool::new(false),
    }
}

/// The event and command runners of `S` (none without handlers of those kinds).
async fn start_runners<S: Service>(
    service: &Arc<S>,
    backend: &Backend,
    config: &ServiceConfig,
    shared: &Shared,
) -> Result<Vec<Runner>> {
    let instance_id = &shared.server.instance_id;
    let mut runners = Vec::new();
    let timeouts = Timeouts {
        handler: config.handler_timeout,
        drain: config.drain_timeout,
    };
    runners
        .extend(EventRunner::start(service, backend, instance_id, &config.events, timeouts).await?);
    let commands = CommandRunner::start(
        service,
        backend,
        instance_id,
        &shared.commands_waiting,
        &config.commands,
        config.drain_timeout,
    )
    .await;
    match commands {
        Ok(runner) => runners.extend(runner),
        Err(error) => {
            futures::future::join_all(runners.into_iter().map(Runner::stop)).await;
            return Err(error);
        }
    }
    Ok(runners)
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

impl Backend {
    /// Starts `service` with the default configuration; see [`ServiceBuilder`] for more.
    pub async fn serve<S: Service>(&self, service: S) -> Result<ServiceHandle> {
        ServiceBuilder::new(service).start(self).await
    }
}
