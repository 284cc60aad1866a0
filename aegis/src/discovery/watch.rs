//! A cached discovery invalidated by a KV watch on the registry.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;

use crate::Result;
use crate::discovery::basic::{Instances, ServiceDiscovery};
use crate::discovery::cached::{CacheConfig, CachedServiceDiscovery};
use crate::ports::BoxFuture;
use crate::registry::{KEY_PREFIX, KvServiceRegistry, python_key_services, service_of_key};

/// Settings of the registry watch (the Python AegisSDK's `WatchConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct WatchConfig {
    /// Whether to watch at all (without it, this is a plain TTL cache).
    pub enabled: bool,
    /// Seconds between attempts to (re)start the watch.
    pub reconnect_delay: f64,
    /// Attempts before giving up on the watch (the TTL cache keeps working).
    pub max_reconnect_attempts: u32,
    /// The key prefix to watch: keys `{prefix}.{service}.{instance}` (aegis) and
    /// `{prefix}__{service}__{instance}` (the Python SDK) invalidate their service.
    pub prefix_pattern: String,
}

impl Default for WatchConfig {
    /// Watch on, 5 s between attempts, 10 attempts, prefix `service-instances`.
    fn default() -> Self {
        WatchConfig {
            enabled: true,
            reconnect_delay: 5.0,
            max_reconnect_attempts: 10,
            prefix_pattern: KEY_PREFIX.to_owned(),
        }
    }
}

/// Settings of [`WatchableCachedServiceDiscovery`] (the Python AegisSDK's `WatchableCacheConfig`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WatchableCacheConfig {
    /// The cache.
    pub cache: CacheConfig,
    /// The watch.
    pub watch: WatchConfig,
}

/// Whether the registry watch is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchState {
    /// Starting or restarting.
    Connecting,
    /// Invalidating on every registry change.
    Watching,
    /// Gave up after `max_reconnect_attempts`; answers follow the TTL alone.
    Failed,
}

/// A [`CachedServiceDiscovery`] whose entries are invalidated as soon as the registry changes
/// (the Python AegisSDK's `WatchableCachedServiceDiscovery`): a KV watch on the registry
/// invalidates only the service whose key changed, for keys of either form (a Python-form
/// key whose `__` reads several ways invalidates every service it can name). While the
/// watch is down it restarts with a delay, up to a maximum number of attempts; the TTL keeps
/// answers bounded meanwhile.
pub struct WatchableCachedServiceDiscovery<D> {
    cached: Arc<CachedServiceDiscovery<D>>,
    state: watch::Receiver<WatchState>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl<D> fmt::Debug for WatchableCachedServiceDiscovery<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchableCachedServiceDiscovery")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl<D> Drop for WatchableCachedServiceDiscovery<D> {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl<D: ServiceDiscovery> WatchableCachedServiceDiscovery<D> {
    /// A watched cache in front of `inner`, watching `registry`.
    pub fn new(inner: D, registry: KvServiceRegistry, config: WatchableCacheConfig) -> Self {
        Self::from_cache(
            CachedServiceDiscovery::new(inner, config.cache),
            registry,
            config.watch,
        )
    }

    /// Adds the watch to an existing cache.
    pub fn from_cache(
        cached: CachedServiceDiscovery<D>,
        registry: KvServiceRegistry,
        config: WatchConfig,
    ) -> Self {
        let cached = Arc::new(cached);
        let (state_tx, state) = watch::channel(WatchState::Connecting);
        let task = config.enabled.then(|| {
            tokio::spawn(watch_registry(
                Arc::clone(&cached),
                registry,
                config,
                state_tx,
            ))
        });
        WatchableCachedServiceDiscovery {
            cached,
            state,
            task,
        }
    }

    /// The cache and its counters.
    pub fn cache(&self) -> &CachedServiceDiscovery<D> {
        &self.cached
    }

    /// The watch's state, and its changes.
    pub fn watch_state(&self) -> watch::Receiver<WatchState> {
        self.state.clone()
    }
}

async fn watch_registry<D: ServiceDiscovery>(
    cached: Arc<CachedServiceDiscovery<D>>,
    registry: KvServiceRegistry,
    config: WatchConfig,
    state: watch::Sender<WatchState>,
) {
    let delay = Duration::from_secs_f64(config.reconnect_delay.max(0.0));
    let dotted = format!("{}.", config.prefix_pattern);
    let python = format!("{}__", config.prefix_pattern);
    let mut attempts = 0u32;
    loop {
        state.send_replace(WatchState::Connecting);
        match registry.watch().await {
            Ok(mut changes) => {
                attempts = 0;
                state.send_replace(WatchState::Watching);
                // Changes made before the watch started were not seen: start clean.
                cached.invalidate_all();
                while let Some(change) = changes.next().await {
                    match change {
                        Ok(entry) => {
                            let key = entry.key.as_str();
                            let mut services: Vec<&str> = Vec::new();
                            if key.starts_with(&dotted) {
                                services.extend(service_of_key(key));
                            } else if key.starts_with(&python) {
                                services.extend(python_key_services(key));
                            }
                            for service in &services {
                                cached.invalidate(service);
                            }
                            if !services.is_empty() {
                                cached.count_watch_invalidation();
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "registry watch failed");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "registry watch could not start"),
        }
        attempts += 1;
        if attempts > config.max_reconnect_attempts {
            tracing::error!(
                attempts,
                "giving up on the registry watch; discovery follows its TTL"
            );
            state.send_replace(WatchState::Failed);
            return;
        }
        tokio::time::sleep(delay).await;
    }
}

impl<D: ServiceDiscovery> ServiceDiscovery for WatchableCachedServiceDiscovery<D> {
    fn discover<'a>(
        &'a self,
        service: &'a str,
        only_healthy: bool,
    ) -> BoxFuture<'a, Result<Instances>> {
        self.cached.discover(service, only_healthy)
    }

    fn invalidate(&self, service: &str) {
        self.cached.invalidate(service);
    }
}
