//! A running service instance: its state, health, leadership, and the graceful stop.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, watch};

use super::shutdown::{self, Shutdown};
use crate::election::Leadership;
use crate::registry::health::{Health, Heartbeat};
use crate::rpc::server::ServerState;
use crate::service::LifecycleState;
use crate::{Error, InstanceId, Result};

/// What the running instance and its handles share.
pub(crate) struct Shared {
    pub(crate) server: Arc<ServerState>,
    pub(crate) state: watch::Sender<LifecycleState>,
    pub(crate) health: watch::Sender<Health>,
    pub(crate) stop: Mutex<Option<Stopper>>,
    /// Commands this instance holds, waiting for a free slot.
    pub(crate) commands_waiting: Arc<AtomicUsize>,
    /// The server's lame-duck notices, when the transport has them.
    pub(crate) lame_duck: Option<watch::Receiver<u64>>,
}

impl Shared {
    pub(crate) fn transition(&self, to: LifecycleState) {
        let from = self.state.send_replace(to);
        tracing::info!(service = self.server.service, instance = %self.server.instance_id, %from, %to, "lifecycle");
    }
}

/// How to stop a running instance.
pub(crate) struct Stopper {
    pub(crate) stop_tx: tokio::sync::oneshot::Sender<()>,
    pub(crate) stop_runners: tokio::sync::oneshot::Sender<()>,
    pub(crate) task: tokio::task::JoinHandle<bool>,
    pub(crate) heartbeat: Option<Heartbeat>,
}

/// A running service instance. Cheap to clone; dropping it does not stop the service.
#[derive(Clone)]
pub struct ServiceHandle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("service", &self.shared.server.service)
            .field("instance_id", &self.shared.server.instance_id)
            .field("state", &self.state())
            .finish()
    }
}

impl ServiceHandle {
    /// The service name.
    pub fn service_name(&self) -> &'static str {
        self.shared.server.service
    }

    /// The service version.
    pub fn version(&self) -> &'static str {
        self.shared.server.version
    }

    /// This instance's id.
    pub fn instance_id(&self) -> &InstanceId {
        &self.shared.server.instance_id
    }

    /// The current lifecycle state.
    pub fn state(&self) -> LifecycleState {
        *self.shared.state.borrow()
    }

    /// A receiver that sees every later state change.
    pub fn state_changes(&self) -> watch::Receiver<LifecycleState> {
        self.shared.state.subscribe()
    }

    /// Whether the instance is healthy: its heartbeats get through and, for single-active
    /// services, no live Python instance shares its group (see [`Health`]). Always healthy
    /// without registration, which is when both are checked.
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
            .server
            .election
            .get()
            .is_some_and(|view| view.lease().is_some())
    }

    /// For services with `#[exclusive_rpc]` methods: the group's leadership as this instance
    /// sees it (state, leader, fencing token, deadline).
    pub fn leadership(&self) -> Option<Leadership> {
        self.shared
            .server
            .election
            .get()
            .map(|view| view.leadership.borrow().clone())
    }

    /// For services with `#[exclusive_rpc]` methods: every later leadership change.
    pub fn leadership_changes(&self) -> Option<watch::Receiver<Leadership>> {
        self.shared
            .server
            .election
            .get()
            .map(|view| view.leadership.clone())
    }

    /// Handlers running right now.
    pub fn in_flight(&self) -> usize {
        self.shared.server.in_flight.load(Ordering::Relaxed)
    }

    /// Commands this instance has taken from the stream and holds until a slot frees up
    /// (they run in priority order).
    pub fn commands_waiting(&self) -> usize {
        self.shared.commands_waiting.load(Ordering::Relaxed)
    }

    /// Runs until the process is asked to stop, then stops gracefully (as
    /// [`stop`](Self::stop)) and says why: SIGINT or SIGTERM on Unix, Ctrl-C elsewhere, or the
    /// server's lame-duck notice (it is shutting down; on a cluster, the restarted process
    /// connects to another node). Returns [`Shutdown::Stopped`] when the service was stopped
    /// some other way meanwhile.
    ///
    /// ```no_run
    /// # async fn run(service: aegis::ServiceHandle) -> aegis::Result<()> {
    /// let reason = service.run_until_shutdown().await?;
    /// eprintln!("stopped: {reason}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The signal handlers could not be installed, or the graceful stop failed.
    pub async fn run_until_shutdown(&self) -> Result<Shutdown> {
        let mut changes = self.state_changes();
        let reason = tokio::select! {
            requested = shutdown::requested(self.shared.lame_duck.clone()) => requested
                .map_err(|e| Error::Transport(format!("installing signal handlers: {e}")))?,
            _ = changes.wait_for(|s| s.is_terminal()) => Shutdown::Stopped,
        };
        tracing::info!(
            service = self.shared.server.service,
            instance = %self.shared.server.instance_id,
            %reason,
            "shutdown requested; stopping gracefully"
        );
        self.stop().await?;
        Ok(reason)
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
                    .deregister(self.shared.server.service, &self.shared.server.instance_id)
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
                self.shared.server.service
            ))),
            _ => Ok(()),
        }
    }
}
