//! The health manager: heartbeats into the registry, forever, with an unhealthy state after
//! repeated failures or while a Python instance shares our single-active group, and a way
//! back from each.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};

use crate::InstanceId;
use crate::domain::instance::{InstanceStatus, ServiceInstance};
use crate::election::{ElectionState, Leadership};
use crate::ports::{Clock, Metrics};
use crate::registry::KvServiceRegistry;
use crate::registry::mixed_group;

/// Whether an instance is healthy, as it reports in the registry (`UNHEALTHY` there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// Heartbeats succeed, and no Python instance shares the single-active group.
    Healthy,
    /// `unhealthy_after` consecutive heartbeats failed (the instance keeps trying), or, for a
    /// service with `#[exclusive_rpc]` methods, a live Python instance of the service is in
    /// the same single-active group: a split brain, logged as an error naming it. Either
    /// way it lasts until the cause is gone.
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

/// Why an instance is unhealthy; healthy when none holds.
#[derive(Debug, Default)]
pub(crate) struct Causes {
    /// `unhealthy_after` consecutive heartbeats failed, and none succeeded since.
    failing: bool,
    /// Live Python instances in our single-active group.
    rivals: Vec<String>,
}

pub(crate) struct HealthManager {
    pub(crate) service: &'static str,
    pub(crate) registry: KvServiceRegistry,
    pub(crate) entry: Mutex<ServiceInstance>,
    pub(crate) interval: Duration,
    pub(crate) unhealthy_after: u32,
    /// How fresh a Python instance's heartbeat must be to count as a rival.
    pub(crate) registry_ttl: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Arc<dyn Metrics>,
    pub(crate) health: watch::Sender<Health>,
    pub(crate) on_unhealthy: Option<UnhealthyCallback>,
    /// For single-active services: ACTIVE or STANDBY follows the election.
    pub(crate) leadership: Option<watch::Receiver<Leadership>>,
    /// For single-active services: the group, in which no Python instance may be.
    pub(crate) group: Option<String>,
    pub(crate) causes: std::sync::Mutex<Causes>,
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

    /// Changes why the instance is unhealthy and publishes the health that follows; calls
    /// the `on_unhealthy` callback on becoming unhealthy. Returns the health when it changed.
    fn set_cause(&self, change: impl FnOnce(&mut Causes)) -> Option<Health> {
        let mut causes = self
            .causes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut causes);
        let health = if causes.failing || !causes.rivals.is_empty() {
            Health::Unhealthy
        } else {
            Health::Healthy
        };
        let before = self.health.send_replace(health);
        drop(causes);
        if before == health {
            return None;
        }
        if let (Health::Unhealthy, Some(callback)) = (health, &self.on_unhealthy) {
            callback();
        }
        Some(health)
    }

    /// For single-active services: looks for live Python instances in our group (entries of
    /// the Python key form without the aegis marker; aegis before the marker wrote no such
    /// keys), and makes the instance unhealthy while there are any. When the registry cannot
    /// be read, what was seen last stands.
    pub(crate) async fn check_group(&self) {
        let Some(group) = &self.group else { return };
        let rivals = match self.registry.python_form_instances(self.service).await {
            Ok(instances) => mixed_group::python_rivals(
                &instances,
                group,
                self.clock.system_time(),
                self.registry_ttl,
            ),
            Err(error) => {
                tracing::debug!(%error, "could not look for Python instances in the group");
                return;
            }
        };
        let before = self
            .causes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .rivals
            .clone();
        // Only this task changes them: said once per change, not once per heartbeat.
        if before != rivals {
            mixed_group::log_change(self.service, group, &before, &rivals);
            self.set_cause(|causes| causes.rivals = rivals);
        }
    }

    /// Heartbeats every `interval` until `stop` fires, looking for Python instances in the
    /// group first. Never gives up: after `unhealthy_after` consecutive failures the
    /// instance is UNHEALTHY (callback, metric, status written when the registry takes it),
    /// and the first success lifts that cause again.
    pub(crate) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut failures = 0u32;
        loop {
            tokio::select! {
                () = self.clock.sleep(self.interval) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            self.check_group().await;
            let labels = [("service", self.service)];
            self.metrics
                .increment("aegis_registry_heartbeats_total", &labels, 1);
            match self.beat().await {
                Ok(()) => {
                    if failures >= self.unhealthy_after {
                        let changed = self.set_cause(|causes| causes.failing = false);
                        let health = *self.health.borrow();
                        tracing::info!(%health, "heartbeats get through again");
                        if changed == Some(Health::Healthy) {
                            // Publish the recovered status right away.
                            let _ = self.beat().await;
                        }
                    }
                    failures = 0;
                }
                Err(error) => {
                    self.metrics
                        .increment("aegis_registry_heartbeat_failures_total", &labels, 1);
                    failures += 1;
                    tracing::warn!(%error, failures, "heartbeat failed");
                    if failures == self.unhealthy_after {
                        tracing::error!(failures, "heartbeats keep failing: unhealthy");
                        self.set_cause(|causes| causes.failing = true);
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
    /// Looks for Python instances in the single-active group (so that the first write
    /// already says UNHEALTHY if there are), registers (a failure is not fatal: every
    /// heartbeat tries again, unless the server refuses this user the registry, which
    /// retrying cannot fix), then heartbeats in the background; for single-active services,
    /// ACTIVE / STANDBY reach the registry as soon as they change.
    pub(crate) async fn start(
        service: &'static str,
        manager: HealthManager,
    ) -> crate::Result<Heartbeat> {
        let manager = Arc::new(manager);
        manager.check_group().await;
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
