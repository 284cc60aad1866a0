//! Registry, health and discovery, on the in-memory backend and on NATS: entries with exactly
//! the Python keys, strategies that really route, watch-driven freshness, stale fallback.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aegis::adapters::nats::NatsOptions;
use aegis::discovery::{
    BasicServiceDiscovery, CacheConfig, CachedServiceDiscovery, Instances, SelectionStrategy,
    ServiceDiscovery, WatchConfig, WatchState, WatchableCacheConfig,
    WatchableCachedServiceDiscovery,
};
use aegis::ports::BoxFuture;
use aegis::registry::{KvServiceRegistry, REGISTRY_BUCKET, registry_key};
use aegis::{
    Backend, Error, InstanceId, RequestContext, RpcError, ServiceBuilder, ServiceConfig,
    ServiceHandle,
};
use aegis_tests::nats_server::NatsServer;
use serde_json::Value;

struct Who;

#[aegis::service(name = "who-service", version = "2.1.0")]
impl Who {
    #[rpc]
    async fn who(&self, ctx: &RequestContext) -> Result<String, RpcError> {
        Ok(ctx.instance_id().to_string())
    }
}

const TTL: Duration = Duration::from_secs(2);
const INTERVAL: Duration = Duration::from_millis(200);

fn config(id: &str) -> ServiceConfig {
    ServiceConfig::new()
        .instance_id(InstanceId::new(id).expect("id"))
        .registry_ttl(TTL)
        .heartbeat_interval(INTERVAL)
}

async fn start(backend: &Backend, id: &str) -> ServiceHandle {
    ServiceBuilder::new(Who)
        .config(config(id))
        .start(backend)
        .await
        .expect("starts")
}

async fn nats(server: &NatsServer) -> Backend {
    NatsOptions::new(server.url())
        .retry_initial_connect(false)
        .connect()
        .await
        .expect("connects")
}

async fn raw_entry(backend: &Backend, id: &str) -> Option<Value> {
    let kv = backend
        .kv()
        .open_bucket(aegis::ports::BucketConfig::new(REGISTRY_BUCKET))
        .await
        .expect("bucket");
    let entry = kv
        .get(&registry_key("who-service", id))
        .await
        .expect("get")?;
    Some(serde_json::from_slice(&entry.value).expect("json"))
}

async fn entry_has_the_python_shape_and_goes_on_stop(backend: Backend) {
    let handle = start(&backend, "who-1").await;
    let value = raw_entry(&backend, "who-1")
        .await
        .expect("registered on start");
    let keys: Vec<&str> = value
        .as_object()
        .expect("map")
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "instanceId",
            "lastHeartbeat",
            "metadata",
            "serviceName",
            "status",
            "stickyActiveGroup",
            "version"
        ]
    );
    assert_eq!(value["serviceName"], "who-service");
    assert_eq!(value["version"], "2.1.0");
    assert_eq!(value["status"], "ACTIVE");
    assert_eq!(value["stickyActiveGroup"], Value::Null);
    assert!(value["metadata"]["start_time"].is_string());
    handle.stop().await.expect("stops");
    assert_eq!(
        raw_entry(&backend, "who-1").await,
        None,
        "deregistered on stop"
    );
}

#[tokio::test]
async fn memory_entry_has_the_python_shape_and_goes_on_stop() {
    entry_has_the_python_shape_and_goes_on_stop(Backend::in_memory()).await;
}

#[tokio::test]
async fn nats_entry_has_the_python_shape_and_goes_on_stop() {
    let server = NatsServer::start();
    entry_has_the_python_shape_and_goes_on_stop(nats(&server).await).await;
}

/// Calls `who` 300 times through a client with `strategy` and counts who answered.
async fn tally(
    backend: &Backend,
    discovery: Arc<dyn ServiceDiscovery>,
    strategy: SelectionStrategy,
) -> HashMap<String, usize> {
    let client = WhoClient::new(backend).with_discovery(discovery, strategy);
    let mut counts = HashMap::new();
    for _ in 0..300 {
        *counts.entry(client.who().await.expect("call")).or_insert(0) += 1;
    }
    counts
}

async fn round_robin_is_exact(backend: Backend) {
    let handles = [
        start(&backend, "who-a").await,
        start(&backend, "who-b").await,
        start(&backend, "who-c").await,
    ];
    let discovery = Arc::new(BasicServiceDiscovery::new(&backend, TTL));
    let counts = tally(&backend, discovery, SelectionStrategy::RoundRobin).await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|&n| n == 100), "{counts:?}");
    for handle in handles {
        handle.stop().await.expect("stops");
    }
}

#[tokio::test]
async fn memory_round_robin_is_exact() {
    round_robin_is_exact(Backend::in_memory()).await;
}

#[tokio::test]
async fn nats_round_robin_is_exact() {
    let server = NatsServer::start();
    round_robin_is_exact(nats(&server).await).await;
}

async fn sticky_follows_the_preferred_instance(backend: Backend) {
    let others = [
        start(&backend, "who-a").await,
        start(&backend, "who-c").await,
    ];
    let preferred = start(&backend, "who-b").await;
    let discovery: Arc<dyn ServiceDiscovery> = Arc::new(BasicServiceDiscovery::new(&backend, TTL));
    let sticky = SelectionStrategy::Sticky {
        preferred_instance_id: "who-b".into(),
    };
    let counts = tally(&backend, Arc::clone(&discovery), sticky.clone()).await;
    assert_eq!(
        counts.get("who-b"),
        Some(&300),
        "100% to the preferred: {counts:?}"
    );

    preferred.stop().await.expect("stops");
    let counts = tally(&backend, Arc::clone(&discovery), sticky.clone()).await;
    assert_eq!(counts.get("who-b"), None, "{counts:?}");
    assert_eq!(
        counts.values().sum::<usize>(),
        300,
        "every call answered by another: {counts:?}"
    );

    let back = start(&backend, "who-b").await;
    let counts = tally(&backend, discovery, sticky).await;
    assert_eq!(
        counts.get("who-b"),
        Some(&300),
        "back to the preferred: {counts:?}"
    );
    back.stop().await.expect("stops");
    for handle in others {
        handle.stop().await.expect("stops");
    }
}

#[tokio::test]
async fn memory_sticky_follows_the_preferred_instance() {
    sticky_follows_the_preferred_instance(Backend::in_memory()).await;
}

#[tokio::test]
async fn nats_sticky_follows_the_preferred_instance() {
    let server = NatsServer::start();
    sticky_follows_the_preferred_instance(nats(&server).await).await;
}

/// Polls `discovery` until `check` holds, returning how long that took (failing after 5 s).
async fn until(discovery: &dyn ServiceDiscovery, check: impl Fn(&Instances) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        let instances = discovery
            .discover("who-service", true)
            .await
            .expect("discover");
        if check(&instances) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not seen within 5 s: {instances:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await; // polling interval
    }
}

fn ids(instances: &Instances) -> Vec<&str> {
    instances.iter().map(|i| i.instance_id.as_str()).collect()
}

#[tokio::test]
async fn nats_watch_driven_discovery_sees_changes_within_100_ms() {
    let server = NatsServer::start();
    let backend = nats(&server).await;
    let first = start(&backend, "who-a").await;
    let registry = KvServiceRegistry::new(&backend);
    let config = WatchableCacheConfig {
        cache: CacheConfig {
            ttl_seconds: 60.0, // long: only the watch can make changes visible quickly
            ..CacheConfig::default()
        },
        watch: WatchConfig::default(),
    };
    let discovery = WatchableCachedServiceDiscovery::new(
        BasicServiceDiscovery::new(&backend, TTL),
        registry,
        config,
    );
    discovery
        .watch_state()
        .wait_for(|s| *s == WatchState::Watching)
        .await
        .expect("watching");
    until(&discovery, |i| ids(i) == ["who-a"]).await;

    let second = start(&backend, "who-b").await;
    let seen = until(&discovery, |i| ids(i) == ["who-a", "who-b"]).await;
    assert!(
        seen <= Duration::from_millis(100),
        "new instance seen after {seen:?}"
    );

    first.stop().await.expect("stops");
    let gone = until(&discovery, |i| ids(i) == ["who-b"]).await;
    assert!(
        gone <= Duration::from_millis(100),
        "deregistration seen after {gone:?}"
    );
    println!("new instance seen after {seen:?}, deregistration after {gone:?}");
    second.stop().await.expect("stops");
}

#[tokio::test]
async fn nats_cached_discovery_serves_stale_while_the_server_is_down_and_recovers() {
    let mut server = NatsServer::start();
    let backend = nats(&server).await;
    let handle = start(&backend, "who-a").await;
    let cache = CachedServiceDiscovery::new(
        BasicServiceDiscovery::new(&backend, Duration::from_secs(3600)),
        CacheConfig {
            ttl_seconds: 0.05,
            ..CacheConfig::default()
        },
    );
    assert_eq!(
        ids(&cache.discover("who-service", true).await.expect("first")),
        ["who-a"]
    );

    server.stop();
    tokio::time::sleep(Duration::from_millis(60)).await; // let the 50 ms entry expire
    let stale = cache
        .discover("who-service", true)
        .await
        .expect("stale answer, not an error");
    assert_eq!(ids(&stale), ["who-a"]);
    assert_eq!(cache.stats().stale, 1);

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let misses = cache.stats().misses;
        let stale = cache.stats().stale;
        let answer = cache.discover("who-service", true).await.expect("answer");
        if cache.stats().stale == stale && cache.stats().misses > misses {
            assert_eq!(ids(&answer), ["who-a"], "fresh from the registry again");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no fresh answer 15 s after the restart"
        );
        tokio::time::sleep(Duration::from_millis(60)).await; // past the cache TTL
    }
    handle.stop().await.expect("stops");
}

/// A discovery that counts its queries and answers after a barrier.
struct Counting {
    queries: AtomicUsize,
    gate: tokio::sync::Notify,
}

impl ServiceDiscovery for Counting {
    fn discover<'a>(
        &'a self,
        service: &'a str,
        _: bool,
    ) -> BoxFuture<'a, aegis::Result<Instances>> {
        Box::pin(async move {
            self.queries.fetch_add(1, Ordering::SeqCst);
            self.gate.notified().await;
            let instance = aegis::registry::ServiceInstance {
                service_name: service.to_owned(),
                instance_id: "x-1".into(),
                version: "1.0.0".into(),
                status: aegis::registry::InstanceStatus::Active,
                last_heartbeat: String::new(),
                sticky_active_group: None,
                metadata: Default::default(),
            };
            Ok(vec![instance].into())
        })
    }
}

#[tokio::test]
async fn concurrent_misses_make_one_query_and_lru_evicts() {
    let inner = Counting {
        queries: AtomicUsize::new(0),
        gate: tokio::sync::Notify::new(),
    };
    let cache = Arc::new(CachedServiceDiscovery::new(
        inner,
        CacheConfig {
            ttl_seconds: 60.0,
            max_entries: 2,
            enable_metrics: true,
        },
    ));
    let callers: Vec<_> = (0..50)
        .map(|_| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move { cache.discover("svc", true).await })
        })
        .collect();
    // Release the one query once it has started.
    let deadline = Instant::now() + Duration::from_secs(5);
    while cache.stats().misses == 0 {
        assert!(Instant::now() < deadline, "no query started");
        tokio::task::yield_now().await;
    }
    // `notify_one` stores a permit if the query is not waiting yet.
    cache_inner(&cache).gate.notify_one();
    for caller in callers {
        assert_eq!(ids(&caller.await.expect("joins").expect("answer")), ["x-1"]);
    }
    assert_eq!(
        cache_inner(&cache).queries.load(Ordering::SeqCst),
        1,
        "one registry query for 50 misses"
    );
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.hits), (1, 49));

    for service in ["a", "b", "c"] {
        cache_inner(&cache).gate.notify_one();
        cache.discover(service, true).await.expect("answer");
    }
    let stats = cache.stats();
    assert_eq!((stats.size, stats.evictions), (2, 2), "{stats:?}");
}

fn cache_inner(cache: &CachedServiceDiscovery<Counting>) -> &Counting {
    cache.inner()
}

#[tokio::test]
async fn timing_invariants_are_validated() {
    let backend = Backend::in_memory();
    let bad = ServiceConfig::new()
        .registry_ttl(Duration::from_secs(5))
        .heartbeat_interval(Duration::from_secs(5));
    let result = ServiceBuilder::new(Who).config(bad).start(&backend).await;
    match result {
        Err(Error::Invalid { what, message }) => {
            assert_eq!(what, "service config");
            assert!(message.contains("heartbeat_interval"), "{message}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_vanished_entry_is_recreated_by_the_next_heartbeat() {
    let backend = Backend::in_memory();
    let handle = start(&backend, "who-a").await;
    let registry = KvServiceRegistry::new(&backend);
    registry
        .deregister("who-service", "who-a")
        .await
        .expect("delete");
    assert_eq!(raw_entry(&backend, "who-a").await, None);
    let deadline = Instant::now() + Duration::from_secs(5);
    while raw_entry(&backend, "who-a").await.is_none() {
        assert!(Instant::now() < deadline, "not re-created");
        tokio::time::sleep(Duration::from_millis(20)).await; // polling interval
    }
    handle.stop().await.expect("stops");
}

/// KV buckets whose writes fail while `failing` is set.
struct Flaky {
    inner: aegis::adapters::memory::MemoryKvBuckets,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

/// Also: watches fail to start while `failing` is set.
struct FlakyKv {
    inner: Arc<dyn aegis::ports::KvStore>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl aegis::ports::KvBuckets for Flaky {
    fn open_bucket(
        &self,
        config: aegis::ports::BucketConfig,
    ) -> BoxFuture<'_, aegis::Result<Arc<dyn aegis::ports::KvStore>>> {
        Box::pin(async move {
            let inner = self.inner.open_bucket(config).await?;
            Ok(Arc::new(FlakyKv {
                inner,
                failing: Arc::clone(&self.failing),
            }) as Arc<dyn aegis::ports::KvStore>)
        })
    }

    fn existing_bucket<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, aegis::Result<Option<Arc<dyn aegis::ports::KvStore>>>> {
        self.inner.existing_bucket(name)
    }
}

impl aegis::ports::KvStore for FlakyKv {
    fn get<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, aegis::Result<Option<aegis::ports::KvEntry>>> {
        self.inner.get(key)
    }
    fn put<'a>(&'a self, key: &'a str, value: bytes::Bytes) -> BoxFuture<'a, aegis::Result<u64>> {
        if self.failing.load(Ordering::SeqCst) {
            return Box::pin(async { Err(Error::Transport("injected failure".into())) });
        }
        self.inner.put(key, value)
    }
    fn create<'a>(
        &'a self,
        key: &'a str,
        value: bytes::Bytes,
    ) -> BoxFuture<'a, aegis::Result<u64>> {
        self.inner.create(key, value)
    }
    fn update<'a>(
        &'a self,
        key: &'a str,
        value: bytes::Bytes,
        revision: u64,
    ) -> BoxFuture<'a, aegis::Result<u64>> {
        self.inner.update(key, value, revision)
    }
    fn delete<'a>(
        &'a self,
        key: &'a str,
        revision: Option<u64>,
    ) -> BoxFuture<'a, aegis::Result<()>> {
        self.inner.delete(key, revision)
    }
    fn keys(&self) -> BoxFuture<'_, aegis::Result<Vec<String>>> {
        self.inner.keys()
    }
    fn entries<'a>(
        &'a self,
        pattern: &'a str,
    ) -> BoxFuture<'a, aegis::Result<Vec<aegis::ports::KvEntry>>> {
        self.inner.entries(pattern)
    }
    fn watch<'a>(
        &'a self,
        pattern: &'a str,
    ) -> BoxFuture<'a, aegis::Result<aegis::ports::KvWatch>> {
        if self.failing.load(Ordering::SeqCst) {
            return Box::pin(async { Err(Error::Transport("injected failure".into())) });
        }
        self.inner.watch(pattern)
    }
}

#[tokio::test]
async fn heartbeat_failures_make_the_instance_unhealthy_and_success_makes_it_healthy_again() {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let memory = Backend::in_memory();
    let kv = Arc::new(Flaky {
        inner: aegis::adapters::memory::MemoryKvBuckets::default(),
        failing: Arc::clone(&failing),
    });
    let backend = Backend::from_parts(Arc::clone(memory.bus()), kv, Arc::clone(memory.clock()));
    let (alarm_tx, mut alarm) = tokio::sync::mpsc::unbounded_channel();
    let handle = ServiceBuilder::new(Who)
        .config(
            config("who-a")
                .heartbeat_interval(Duration::from_millis(20))
                .unhealthy_after(3),
        )
        .on_unhealthy(move || {
            let _ = alarm_tx.send(());
        })
        .start(&backend)
        .await
        .expect("starts");
    let mut health = handle.health_changes();
    assert_eq!(handle.health(), aegis::Health::Healthy);

    failing.store(true, Ordering::SeqCst);
    tokio::time::timeout(
        Duration::from_secs(5),
        health.wait_for(|h| *h == aegis::Health::Unhealthy),
    )
    .await
    .expect("unhealthy after repeated failures")
    .expect("health channel");
    tokio::time::timeout(Duration::from_secs(5), alarm.recv())
        .await
        .expect("callback called")
        .expect("callback channel");
    // Still serving meanwhile.
    assert!(WhoClient::new(&backend).who().await.is_ok());

    failing.store(false, Ordering::SeqCst);
    tokio::time::timeout(
        Duration::from_secs(5),
        health.wait_for(|h| *h == aegis::Health::Healthy),
    )
    .await
    .expect("healthy again once heartbeats get through")
    .expect("health channel");
    let entry = raw_entry(&backend, "who-a").await.expect("registered");
    assert_eq!(entry["status"], "ACTIVE");
    handle.stop().await.expect("stops");
}

#[tokio::test]
async fn without_a_watch_discovery_falls_back_to_its_ttl_after_the_last_attempt() {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let memory = Backend::in_memory();
    let kv = Arc::new(Flaky {
        inner: aegis::adapters::memory::MemoryKvBuckets::default(),
        failing: Arc::clone(&failing),
    });
    let backend = Backend::from_parts(Arc::clone(memory.bus()), kv, Arc::clone(memory.clock()));
    let registry = KvServiceRegistry::new(&backend);
    let config = WatchableCacheConfig {
        cache: CacheConfig {
            ttl_seconds: 0.05,
            ..CacheConfig::default()
        },
        watch: WatchConfig {
            reconnect_delay: 0.01,
            max_reconnect_attempts: 3,
            ..WatchConfig::default()
        },
    };
    let discovery = WatchableCachedServiceDiscovery::new(
        BasicServiceDiscovery::new(&backend, TTL),
        registry,
        config,
    );
    tokio::time::timeout(
        Duration::from_secs(5),
        discovery
            .watch_state()
            .wait_for(|s| *s == WatchState::Failed),
    )
    .await
    .expect("gives up after 3 attempts")
    .expect("state channel");
    failing.store(false, Ordering::SeqCst);
    // The TTL alone keeps answers fresh: a new instance shows up once the entry expires.
    assert!(
        discovery
            .discover("who-service", true)
            .await
            .expect("answer")
            .is_empty()
    );
    let handle = start(&backend, "who-a").await;
    until(&discovery, |i| ids(i) == ["who-a"]).await;
    handle.stop().await.expect("stops");
}
