//! A TTL/LRU cache in front of another discovery, with stale fallback.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Result;
use crate::discovery::basic::{Instances, ServiceDiscovery};
use crate::ports::{BoxFuture, Metrics, NoMetrics};

/// Settings of [`CachedServiceDiscovery`] (the Python AegisSDK's `CacheConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// How long an answer is served from the cache.
    pub ttl_seconds: f64,
    /// Most services (× healthy/all) kept; the least recently used goes first.
    pub max_entries: usize,
    /// Whether hits, misses, stale answers and evictions go to the metrics port.
    pub enable_metrics: bool,
}

impl Default for CacheConfig {
    /// The Python AegisSDK's defaults: 10 s, 1000 entries, metrics on.
    fn default() -> Self {
        CacheConfig {
            ttl_seconds: 10.0,
            max_entries: 1000,
            enable_metrics: true,
        }
    }
}

/// Cache counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Answers from a fresh entry.
    pub hits: u64,
    /// Answers that needed the inner discovery.
    pub misses: u64,
    /// Expired answers served because the inner discovery failed.
    pub stale: u64,
    /// Entries dropped to stay within `max_entries`.
    pub evictions: u64,
    /// Entries now.
    pub size: u64,
}

/// Service name and `only_healthy`.
type CacheKey = (String, bool);

/// Held while one caller queries the inner discovery for a key.
type Flight = Arc<tokio::sync::Mutex<()>>;

struct Entry {
    instances: Instances,
    fetched: Instant,
    last_used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<(String, bool), Entry>,
    /// Bumped by `invalidate`: an answer fetched before it is not cached.
    generations: HashMap<String, u64>,
    tick: u64,
}

/// A TTL cache in front of another discovery (the Python AegisSDK's `CachedServiceDiscovery`):
/// - fresh answers come from memory;
/// - concurrent misses for one service make one query;
/// - when the inner discovery fails, the last answer is served however old (stale fallback);
/// - at most `max_entries` entries, least recently used evicted first;
/// - empty answers are not cached, so a first instance is seen at once.
pub struct CachedServiceDiscovery<D> {
    inner: D,
    ttl: Duration,
    config: CacheConfig,
    cache: Mutex<Cache>,
    flights: Mutex<HashMap<CacheKey, Flight>>,
    metrics: Arc<dyn Metrics>,
    hits: AtomicU64,
    misses: AtomicU64,
    stale: AtomicU64,
    evictions: AtomicU64,
}

impl<D: ServiceDiscovery> fmt::Debug for CachedServiceDiscovery<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedServiceDiscovery")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<D: ServiceDiscovery> CachedServiceDiscovery<D> {
    /// A cache in front of `inner`.
    pub fn new(inner: D, config: CacheConfig) -> Self {
        CachedServiceDiscovery {
            inner,
            ttl: Duration::from_secs_f64(config.ttl_seconds.max(0.0)),
            config,
            cache: Mutex::default(),
            flights: Mutex::default(),
            metrics: Arc::new(NoMetrics),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// Reports cache metrics (`aegis_discovery_cache_{hits,misses,stale,evictions}_total`,
    /// labelled by the `service` looked up, and `aegis_discovery_watch_invalidations_total`)
    /// to `metrics` when `enable_metrics` is set.
    pub fn with_metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The discovery behind the cache.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        let size = u64::try_from(self.lock().entries.len()).unwrap_or(u64::MAX);
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            size,
        }
    }

    /// Forgets every cached answer (the watch missed changes).
    pub(crate) fn invalidate_all(&self) {
        let services: Vec<String> = self.lock().entries.keys().map(|(s, _)| s.clone()).collect();
        for service in services {
            self.invalidate(&service);
        }
    }

    /// Counts one invalidation made by the registry watch (when metrics are enabled).
    pub(crate) fn count_watch_invalidation(&self) {
        if self.config.enable_metrics {
            self.metrics
                .increment("aegis_discovery_watch_invalidations_total", &[], 1);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, counter: &AtomicU64, name: &'static str, service: &str) {
        counter.fetch_add(1, Ordering::Relaxed);
        if self.config.enable_metrics {
            self.metrics.increment(name, &[("service", service)], 1);
        }
    }

    /// A fresh cached answer, if any.
    fn fresh(&self, key: &(String, bool)) -> Option<Instances> {
        let mut cache = self.lock();
        cache.tick += 1;
        let tick = cache.tick;
        let entry = cache.entries.get_mut(key)?;
        if entry.fetched.elapsed() >= self.ttl {
            return None;
        }
        entry.last_used = tick;
        Some(Arc::clone(&entry.instances))
    }

    fn store(&self, key: (String, bool), generation: u64, instances: &Instances) {
        let mut cache = self.lock();
        if cache.generations.get(&key.0).copied().unwrap_or(0) != generation {
            return; // invalidated while we were asking
        }
        if instances.is_empty() {
            cache.entries.remove(&key);
            return;
        }
        cache.tick += 1;
        let tick = cache.tick;
        cache.entries.insert(
            key,
            Entry {
                instances: Arc::clone(instances),
                fetched: Instant::now(),
                last_used: tick,
            },
        );
        while cache.entries.len() > self.config.max_entries.max(1) {
            let Some(oldest) = cache
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            cache.entries.remove(&oldest);
            drop(cache);
            self.count(
                &self.evictions,
                "aegis_discovery_cache_evictions_total",
                &oldest.0,
            );
            cache = self.lock();
        }
    }

    async fn lookup(&self, service: &str, only_healthy: bool) -> Result<Instances> {
        let key = (service.to_owned(), only_healthy);
        if let Some(hit) = self.fresh(&key) {
            self.count(&self.hits, "aegis_discovery_cache_hits_total", service);
            return Ok(hit);
        }
        // One query per key at a time: later callers wait and then find it cached.
        let flight = {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(flights.entry(key.clone()).or_default())
        };
        let _turn = flight.lock().await;
        if let Some(hit) = self.fresh(&key) {
            self.count(&self.hits, "aegis_discovery_cache_hits_total", service);
            return Ok(hit);
        }
        self.count(&self.misses, "aegis_discovery_cache_misses_total", service);
        let generation = self.lock().generations.get(service).copied().unwrap_or(0);
        match self.inner.discover(service, only_healthy).await {
            Ok(instances) => {
                self.store(key, generation, &instances);
                Ok(instances)
            }
            Err(error) => {
                let stale = self
                    .lock()
                    .entries
                    .get(&key)
                    .map(|e| Arc::clone(&e.instances));
                match stale {
                    Some(stale) => {
                        tracing::debug!(service, %error, "registry unavailable; serving stale instances");
                        self.count(&self.stale, "aegis_discovery_cache_stale_total", service);
                        Ok(stale)
                    }
                    None => Err(error),
                }
            }
        }
    }
}

impl<D: ServiceDiscovery> ServiceDiscovery for CachedServiceDiscovery<D> {
    fn discover<'a>(
        &'a self,
        service: &'a str,
        only_healthy: bool,
    ) -> BoxFuture<'a, Result<Instances>> {
        Box::pin(self.lookup(service, only_healthy))
    }

    /// Marks the entries of `service` expired (they stay as stale fallback) and discards any
    /// answer for it still in flight.
    fn invalidate(&self, service: &str) {
        let mut cache = self.lock();
        *cache.generations.entry(service.to_owned()).or_insert(0) += 1;
        for only_healthy in [true, false] {
            if let Some(entry) = cache.entries.get_mut(&(service.to_owned(), only_healthy)) {
                entry.fetched = Instant::now() - self.ttl - Duration::from_millis(1);
            }
        }
        drop(cache);
        self.inner.invalidate(service);
    }
}
