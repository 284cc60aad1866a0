//! Service discovery, composable as in the Python AegisSDK: [`BasicServiceDiscovery`] queries the
//! registry, [`CachedServiceDiscovery`] adds a TTL/LRU cache with stale fallback,
//! [`WatchableCachedServiceDiscovery`] invalidates that cache from a KV watch.

mod basic;
mod cached;
pub(crate) mod selection;
mod watch;

pub use basic::{BasicServiceDiscovery, Instances, ServiceDiscovery};
pub use cached::{CacheConfig, CacheStats, CachedServiceDiscovery};
pub use selection::{SelectionStrategy, Selector};
pub use watch::{WatchConfig, WatchState, WatchableCacheConfig, WatchableCachedServiceDiscovery};
