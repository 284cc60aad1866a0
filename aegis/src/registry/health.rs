//! The health manager: heartbeats into the registry, forever, with an unhealthy state after
//! repeated failures and a way back.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};

use crate::InstanceId;
use crate::domain::instance::{InstanceStatus, ServiceInstance};
use crate::election::{ElectionState, Leadership};
use crate::ports::{Clock, Metrics};
use crate::registry::KvServiceRegistry;

/// Whether an instance's heartbeats are getting through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// Heartbeats succeed.
    Healthy,
    /// Several consecutive heartbeats failed; the instance keeps trying.
    Unhealthy,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Healthy => "HEALTHY",
            Health::Unhealthy => "UNHEALTHY",
        })
    }
}

pub(crate) type UnhealthyCallback = Arc<dyn Fn() + Send + Sync>;

pub(crate) struct HealthManager {
    pub(crate) registry: KvServiceRegistry,
    pub(crate) entry: Mutex<ServiceInstance>,
    pub(crate) interval: Duration,
    pub(crate) unhealthy_after: u32,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Arc<dyn Metrics>,
    pub(crate) health: watch::Sender<Health>,
    pub(crate) on_unhealthy: Option<UnhealthyCallback>,
    /// For single-active services: ACTIVE or STANDBY follows the election.
    pub(crate) leadership: Option<watch::Receiver<Leadership>>,
    /// Set (under the entry's lock) on deregistration: no write may follow it.
    pub(crate) deregistered: std::sync::atomic::AtomicBool,
}

impl HealthManager {
    /// Removes the entry; heartbeats still in progress finish first, later ones do nothing.
    pub(crate) async fn deregister(&self, service: &str, instance_id: &str) -> crate::Result<()> {
        let _entry = self.entry.lock().await;
        self.deregistered
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.registry.deregister(service, instance_id).await
    }

    /// Writes the entry with a fresh heartbeat; `Ok` when the registry took it.
    pub(crate) async fn beat(&self) -> crate::Result<()> {
        let mut entry = self.entry.lock().await;
        if self.deregistered.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        entry.touch(self.clock.system_time());
        let leading = self
            .leadership
            .as_ref()
            .is_none_or(|l| l.borrow().state == ElectionState::Active);
        entry.status = match (*self.health.borrow(), leading) {
            (Health::Unhealthy, _) => InstanceStatus::Unhealthy,
            (Health::Healthy, true) => InstanceStatus::Active,
            (Health::Healthy, false) => InstanceStatus::Standby,
        };
        self.registry.put(&entry).await.map(drop)
    }

    /// Heartbeats every `interval` until `stop` fires. Never gives up: after
    /// `unhealthy_after` consecutive failures the instance is UNHEALTHY (callback, metric,
    /// status written when the registry takes it), and the first success makes it healthy
    /// again.
    pub(crate) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut failures = 0u32;
        loop {
            tokio::select! {
                () = self.clock.sleep(self.interval) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            match self.beat().await {
                Ok(()) => {
                    self.metrics.increment("aegis.heartbeats.sent", 1);
                    failures = 0;
                    if self.health.send_replace(Health::Healthy) == Health::Unhealthy {
                        tracing::info!("heartbeats get through again: healthy");
                        // Publish the recovered status right away.
                        let _ = self.beat().await;
                    }
                }
                Err(error) => {
                    self.metrics.increment("aegis.heartbeats.failed", 1);
                    failures += 1;
                    tracing::warn!(%error, failures, "heartbeat failed");
                    if failures == self.unhealthy_after {
                        self.health.send_replace(Health::Unhealthy);
                        tracing::error!(failures, "heartbeats keep failing: unhealthy");
                        if let Some(callback) = &self.on_unhealthy {
                            callback();
                        }
                    }
                }
            }
        }
    }
}

/// The heartbeat of one registered instance, running in the background.
pub(crate) struct Heartbeat {
    manager: Arc<HealthManager>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    /// Registers (a failure is not fatal: every heartbeat tries again, unless the server
    /// refuses this user the registry, which retrying cannot fix), then heartbeats in the
    /// background; for single-active services, ACTIVE / STANDBY reach the registry as soon as
    /// they change.
    pub(crate) async fn start(
        service: &'static str,
        manager: HealthManager,
    ) -> crate::Result<Heartbeat> {
        let manager = Arc::new(manager);
        match manager.beat().await {
            Ok(()) => {}
            Err(denied @ crate::Error::PermissionDenied { .. }) => return Err(denied),
            Err(error) => {
                tracing::warn!(service, %error, "registration failed; retrying with each heartbeat");
            }
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(Arc::clone(&manager).run(stopped));
        // Not after deregistration: the release at stop must not re-register us.
        if let Some(mut changes) = manager.leadership.clone() {
            let mut stopped = stop.subscribe();
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
        Ok(Heartbeat {
            manager,
            stop,
            task,
        })
    }

    /// Stops heartbeating and removes the registry entry, so that discovery stops routing
    /// here before intake closes.
    pub(crate) async fn deregister(self, service: &'static str, instance_id: &InstanceId) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Err(error) = self.manager.deregister(service, instance_id.as_str()).await {
            tracing::warn!(service, %error, "could not deregister");
        }
    }
}
