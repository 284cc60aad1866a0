//! The settings of one service instance.

use std::time::Duration;

use crate::commands::worker::CommandConfig;
use crate::election::ElectionConfig;
use crate::events::subscriber::EventConfig;
use crate::rpc::server::ServerLimits;
use crate::{Error, InstanceId, Result};

/// Settings of one service instance.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub(crate) instance_id: Option<InstanceId>,
    pub(crate) max_concurrency: usize,
    pub(crate) handler_timeout: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) registry_ttl: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) enable_registration: bool,
    pub(crate) python_registry_keys: bool,
    pub(crate) unhealthy_after: u32,
    pub(crate) election: ElectionConfig,
    pub(crate) events: EventConfig,
    pub(crate) commands: CommandConfig,
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
            python_registry_keys: true,
            unhealthy_after: 3,
            election: ElectionConfig::default(),
            events: EventConfig::default(),
            commands: CommandConfig::default(),
        }
    }
}

impl ServiceConfig {
    /// Defaults: generated instance id, 1024 concurrent handlers, 30 s handler timeout,
    /// 10 s drain timeout; registered (under the Python key form too), heartbeat every 10 s,
    /// registry TTL 30 s, unhealthy after 3 failed heartbeats (the Python SDK's values).
    pub fn new() -> Self {
        Self::default()
    }

    /// How long after its last heartbeat an instance counts as gone (Python AegisSDK:
    /// `registry_ttl`).
    pub fn registry_ttl(mut self, ttl: Duration) -> Self {
        self.registry_ttl = ttl;
        self
    }

    /// How often the registry entry is refreshed (Python AegisSDK: `heartbeat_interval`); must
    /// be less than the registry TTL.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Whether the instance registers itself in the service registry (Python AegisSDK:
    /// `enable_registration`).
    pub fn enable_registration(mut self, enable: bool) -> Self {
        self.enable_registration = enable;
        self
    }

    /// Whether the registry entry is also written under the Python SDK's key,
    /// `service-instances__{service}__{instance}`, besides aegis's
    /// `service-instances.{service}.{instance}` (and deleted from both on stop).
    ///
    /// On by default, so that a fleet of Python and Rust instances finds each other without
    /// configuration: Python's discovery reads only its own form (and aegis reads both, always).
    /// The cost is one more KV put per heartbeat. Turn it off where no Python peer reads the
    /// registry.
    pub fn python_registry_keys(mut self, write: bool) -> Self {
        self.python_registry_keys = write;
        self
    }

    /// The single-active group this instance joins when the service has `#[exclusive_rpc]`
    /// methods (Python AegisSDK: `group_id`; default `default`). Python instances cannot
    /// join an aegis group's election: while a live one is registered in the same group,
    /// this instance logs an error and reports UNHEALTHY (see [`crate::Health`]).
    pub fn group_id(mut self, group_id: impl Into<String>) -> Self {
        self.election.group_id = group_id.into();
        self
    }

    /// The leader lease (Python AegisSDK: `leader_ttl_seconds`; default 10 s); renew interval,
    /// margin and candidate poll interval follow from it (see [`ElectionConfig::new`]).
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

    pub(crate) fn server_limits(&self) -> ServerLimits {
        ServerLimits {
            max_concurrency: self.max_concurrency,
            handler_timeout: self.handler_timeout,
            drain_timeout: self.drain_timeout,
        }
    }
}
