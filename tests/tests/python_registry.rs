//! A registry shared with Python AegisSDK instances, on the in-memory backend and on NATS:
//! aegis discovers a Python entry exactly as the SDK writes it, writes its own entry under
//! Python's key too (and only once in listings), and reports a Python instance in its
//! single-active group as a split brain until it is gone.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aegis::adapters::nats::NatsOptions;
use aegis::discovery::{
    BasicServiceDiscovery, CacheConfig, ServiceDiscovery, WatchConfig, WatchState,
    WatchableCacheConfig, WatchableCachedServiceDiscovery,
};
use aegis::domain::envelope::format_timestamp;
use aegis::ports::{BucketConfig, KvStore};
use aegis::registry::{
    KvServiceRegistry, REGISTRY_BUCKET, RUST_MARKER, python_registry_key, registry_key,
};
use aegis::{
    Backend, Health, InstanceId, RequestContext, RpcError, ServiceBuilder, ServiceConfig,
    ServiceHandle,
};
use aegis_tests::logs::Captured;
use aegis_tests::nats_server::NatsServer;
use serde_json::Value;

const SERVICE: &str = "echo-service";
/// The Python instance of the captured entry.
const PYTHON_ID: &str = "echo-service-1a2b3c4d";
/// The captured key.
const PYTHON_KEY: &str = "service-instances__echo-service__echo-service-1a2b3c4d";
/// Long: a Python entry written at the start of a test stays fresh throughout.
const TTL: Duration = Duration::from_secs(30);
const INTERVAL: Duration = Duration::from_millis(100);
const DEADLINE: Duration = Duration::from_secs(5);

struct Echo;

#[aegis::service(name = "echo-service", version = "1.0.0")]
impl Echo {
    #[rpc]
    async fn echo(&self, message: String) -> Result<String, RpcError> {
        Ok(message)
    }
}

/// The same service with an exclusive method: a single-active group.
struct ExclusiveEcho;

#[aegis::service(name = "echo-service", version = "1.0.0")]
impl ExclusiveEcho {
    #[exclusive_rpc]
    async fn work(&self, ctx: &RequestContext) -> Result<String, RpcError> {
        Ok(ctx.instance_id().to_string())
    }
}

fn config(id: &str) -> ServiceConfig {
    ServiceConfig::new()
        .instance_id(InstanceId::new(id).expect("id"))
        .registry_ttl(TTL)
        .heartbeat_interval(INTERVAL)
}

async fn nats(server: &NatsServer) -> Backend {
    NatsOptions::new(server.url())
        .retry_initial_connect(false)
        .connect()
        .await
        .expect("connects")
}

/// The registry bucket, as aegis creates it, opened raw.
async fn bucket(backend: &Backend) -> Arc<dyn KvStore> {
    KvServiceRegistry::new(backend)
        .list_all()
        .await
        .expect("the registry opens");
    backend
        .kv()
        .open_bucket(BucketConfig::new(REGISTRY_BUCKET))
        .await
        .expect("bucket")
}

/// The Python SDK's entry of `id` (captured, with the heartbeat and group of the test).
fn python_value(id: &str, heartbeat: SystemTime, group: Option<&str>) -> String {
    let group = group.map_or("null".to_owned(), |g| format!("\"{g}\""));
    format!(
        r#"{{"serviceName":"echo-service","instanceId":"{id}","version":"1.0.0","status":"ACTIVE","lastHeartbeat":"{}","stickyActiveGroup":{group},"metadata":{{"start_time":"2026-11-26T23:26:12.408601+00:00"}}}}"#,
        format_timestamp(heartbeat)
    )
}

async fn put_python(kv: &dyn KvStore, id: &str, heartbeat: SystemTime, group: Option<&str>) {
    kv.put(
        &python_registry_key(SERVICE, id),
        python_value(id, heartbeat, group).into(),
    )
    .await
    .expect("put");
}

async fn raw(kv: &dyn KvStore, key: &str) -> Option<String> {
    let entry = kv.get(key).await.expect("get")?;
    Some(String::from_utf8(entry.value.to_vec()).expect("utf-8"))
}

async fn field(kv: &dyn KvStore, id: &str, name: &str) -> Option<String> {
    let value: Value = serde_json::from_str(&raw(kv, &registry_key(SERVICE, id)).await?).ok()?;
    value[name].as_str().map(str::to_owned)
}

async fn status(kv: &dyn KvStore, id: &str) -> Option<String> {
    field(kv, id, "status").await
}

async fn last_heartbeat(kv: &dyn KvStore, id: &str) -> Option<String> {
    field(kv, id, "lastHeartbeat").await
}

/// Looks again until `check` holds; fails after [`DEADLINE`] saying `what`.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {DEADLINE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await; // polling interval
    }
}

async fn health_becomes(handle: &ServiceHandle, health: Health) {
    tokio::time::timeout(DEADLINE, handle.health_changes().wait_for(|h| *h == health))
        .await
        .unwrap_or_else(|_| panic!("{} not {health} within {DEADLINE:?}", handle.instance_id()))
        .expect("health channel");
}

fn ids(instances: &[aegis::registry::ServiceInstance]) -> Vec<&str> {
    instances.iter().map(|i| i.instance_id.as_str()).collect()
}

async fn a_python_entry_is_discovered_and_watched(backend: Backend) {
    let kv = bucket(&backend).await;
    // The Python monitor-api's service definition, in the same bucket: not an instance.
    kv.put(SERVICE, br#"{"name":"echo-service"}"#.as_slice().into())
        .await
        .expect("put");
    let registry = KvServiceRegistry::new(&backend);
    let watched = WatchableCachedServiceDiscovery::new(
        BasicServiceDiscovery::new(&backend, TTL),
        registry.clone(),
        WatchableCacheConfig {
            cache: CacheConfig {
                ttl_seconds: 600.0, // only the watch can make changes visible
                ..CacheConfig::default()
            },
            watch: WatchConfig::default(),
        },
    );
    tokio::time::timeout(
        DEADLINE,
        watched
            .watch_state()
            .wait_for(|s| *s == WatchState::Watching),
    )
    .await
    .expect("watching in time")
    .expect("state channel");
    let discovered = || async { watched.discover(SERVICE, true).await.expect("discover") };
    assert!(discovered().await.is_empty(), "nothing yet (and cached)");

    put_python(&*kv, PYTHON_ID, SystemTime::now(), None).await;
    let basic = BasicServiceDiscovery::new(&backend, TTL);
    let found = basic.discover(SERVICE, true).await.expect("discover");
    assert_eq!(ids(&found), [PYTHON_ID]);
    let python = &found[0];
    assert_eq!(python.status, aegis::registry::InstanceStatus::Active);
    assert_eq!(python.sticky_active_group, None);
    assert!(!python.is_rust(), "no marker: a Python instance");
    assert_eq!(ids(&registry.list_all().await.expect("list")), [PYTHON_ID]);
    eventually("the watch shows the Python instance", || async {
        ids(&discovered().await) == [PYTHON_ID]
    })
    .await;

    kv.delete(PYTHON_KEY, None).await.expect("delete");
    eventually("the watch forgets the Python instance", || async {
        discovered().await.is_empty()
    })
    .await;
    assert!(
        basic
            .discover(SERVICE, false)
            .await
            .expect("discover")
            .is_empty()
    );

    // A Python entry whose heartbeat is older than the TTL is listed, but not healthy.
    put_python(&*kv, PYTHON_ID, SystemTime::now() - TTL * 2, None).await;
    assert!(
        basic
            .discover(SERVICE, true)
            .await
            .expect("discover")
            .is_empty()
    );
    assert_eq!(
        ids(&basic.discover(SERVICE, false).await.expect("discover")),
        [PYTHON_ID]
    );
}

#[tokio::test]
async fn memory_a_python_entry_is_discovered_and_watched() {
    a_python_entry_is_discovered_and_watched(Backend::in_memory()).await;
}

#[tokio::test]
async fn nats_a_python_entry_is_discovered_and_watched() {
    let server = NatsServer::start();
    a_python_entry_is_discovered_and_watched(nats(&server).await).await;
}

async fn a_rust_instance_writes_the_python_key_is_listed_once_and_deletes_it(backend: Backend) {
    let kv = bucket(&backend).await;
    let id = "echo-service-0a0b0c0d";
    let handle = ServiceBuilder::new(Echo)
        .config(config(id))
        .start(&backend)
        .await
        .expect("starts");
    let python_key = python_registry_key(SERVICE, id);
    assert_eq!(
        python_key,
        "service-instances__echo-service__echo-service-0a0b0c0d"
    );
    let text = raw(&*kv, &python_key)
        .await
        .expect("written under the Python key");
    // Exactly the 7 keys, in Python's order (its reader forbids any other).
    let order = [
        "serviceName",
        "instanceId",
        "version",
        "status",
        "lastHeartbeat",
        "stickyActiveGroup",
        "metadata",
    ];
    let value: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(value.as_object().expect("map").len(), order.len(), "{text}");
    let at: Vec<usize> = order
        .iter()
        .map(|key| text.find(&format!("\"{key}\":")).expect(key))
        .collect();
    assert!(at.is_sorted(), "in Python's order: {text}");
    assert_eq!(value["serviceName"], SERVICE);
    assert_eq!(value["instanceId"], id);
    assert_eq!(value["version"], "1.0.0");
    assert_eq!(value["status"], "ACTIVE");
    assert_eq!(value["stickyActiveGroup"], Value::Null);
    let heartbeat = value["lastHeartbeat"].as_str().expect("string");
    assert!(
        heartbeat.ends_with("+00:00"),
        "isoformat with offset: {heartbeat}"
    );
    assert_eq!(value["metadata"]["aegis"], RUST_MARKER);
    assert!(value["metadata"]["start_time"].is_string());
    let dotted: Value = serde_json::from_str(
        &raw(&*kv, &registry_key(SERVICE, id))
            .await
            .expect("written under the dotted key"),
    )
    .expect("json");
    assert_eq!(dotted["metadata"], value["metadata"]);

    let registry = KvServiceRegistry::new(&backend);
    assert_eq!(
        ids(&registry.list_instances(SERVICE).await.expect("list")),
        [id]
    );
    assert_eq!(ids(&registry.list_all().await.expect("list")), [id]);
    let basic = BasicServiceDiscovery::new(&backend, TTL);
    let found = basic.discover(SERVICE, true).await.expect("discover");
    assert_eq!(ids(&found), [id]);
    assert!(found[0].is_rust());

    handle.stop().await.expect("stops");
    assert_eq!(raw(&*kv, &python_key).await, None, "Python key deleted");
    assert_eq!(raw(&*kv, &registry_key(SERVICE, id)).await, None);
    assert!(registry.list_all().await.expect("list").is_empty());
}

#[tokio::test]
async fn memory_a_rust_instance_writes_the_python_key_is_listed_once_and_deletes_it() {
    a_rust_instance_writes_the_python_key_is_listed_once_and_deletes_it(Backend::in_memory()).await;
}

#[tokio::test]
async fn nats_a_rust_instance_writes_the_python_key_is_listed_once_and_deletes_it() {
    let server = NatsServer::start();
    a_rust_instance_writes_the_python_key_is_listed_once_and_deletes_it(nats(&server).await).await;
}

async fn without_python_keys_only_the_dotted_key_is_written(backend: Backend) {
    let kv = bucket(&backend).await;
    let id = "echo-service-0e0e0e0e";
    let handle = ServiceBuilder::new(Echo)
        .config(config(id).python_registry_keys(false))
        .start(&backend)
        .await
        .expect("starts");
    assert!(raw(&*kv, &registry_key(SERVICE, id)).await.is_some());
    assert_eq!(raw(&*kv, &python_registry_key(SERVICE, id)).await, None);
    // It still reads Python's: the captured entry is listed beside it.
    put_python(&*kv, PYTHON_ID, SystemTime::now(), None).await;
    let registry = KvServiceRegistry::new(&backend);
    assert_eq!(
        ids(&registry.list_instances(SERVICE).await.expect("list")),
        [id, PYTHON_ID]
    );
    handle.stop().await.expect("stops");
    assert!(raw(&*kv, &registry_key(SERVICE, id)).await.is_none());
    assert_eq!(kv.keys().await.expect("keys").len(), 1, "Python's own only");
}

#[tokio::test]
async fn memory_without_python_keys_only_the_dotted_key_is_written() {
    without_python_keys_only_the_dotted_key_is_written(Backend::in_memory()).await;
}

#[tokio::test]
async fn nats_without_python_keys_only_the_dotted_key_is_written() {
    let server = NatsServer::start();
    without_python_keys_only_the_dotted_key_is_written(nats(&server).await).await;
}

async fn a_python_instance_in_the_group_makes_rust_instances_unhealthy_until_it_goes(
    backend: Backend,
    logs: Captured,
) {
    let kv = bucket(&backend).await;
    let start = |id: &'static str| {
        let backend = backend.clone();
        async move {
            ServiceBuilder::new(ExclusiveEcho)
                .config(config(id))
                .start(&backend)
                .await
                .expect("starts")
        }
    };
    // Neither counts: one stale in the group, one live in another group.
    put_python(
        &*kv,
        PYTHON_ID,
        SystemTime::now() - TTL * 2,
        Some("default"),
    )
    .await;
    put_python(
        &*kv,
        "echo-service-0the7000",
        SystemTime::now(),
        Some("other"),
    )
    .await;
    let leader = start("echo-service-rust0001").await;
    assert_eq!(leader.health(), Health::Healthy);
    eventually("the leader leads", || async { leader.is_active() }).await;

    put_python(&*kv, PYTHON_ID, SystemTime::now(), Some("default")).await;
    health_becomes(&leader, Health::Unhealthy).await;
    eventually("the registry says UNHEALTHY", || async {
        status(&*kv, "echo-service-rust0001").await.as_deref() == Some("UNHEALTHY")
    })
    .await;
    // Another heartbeat, and so another look, has passed: still one error.
    let heartbeat = last_heartbeat(&*kv, "echo-service-rust0001").await;
    eventually("another heartbeat", || async {
        last_heartbeat(&*kv, "echo-service-rust0001").await != heartbeat
    })
    .await;
    let errors = logs.lines("ERROR", PYTHON_ID);
    assert_eq!(
        errors.len(),
        1,
        "one error names the Python instance: {errors:?}"
    );
    assert!(
        errors[0].contains("ServiceConfig::group_id"),
        "{}",
        errors[0]
    );
    assert!(
        !errors[0].contains("0the7000"),
        "another group's: {}",
        errors[0]
    );
    assert!(leader.is_active(), "the election keeps running");

    // Checked at start: the first entry written already says so.
    let standby = start("echo-service-rust0002").await;
    assert_eq!(standby.health(), Health::Unhealthy);
    assert_eq!(
        status(&*kv, "echo-service-rust0002").await.as_deref(),
        Some("UNHEALTHY")
    );

    kv.delete(PYTHON_KEY, None).await.expect("delete");
    for handle in [&leader, &standby] {
        health_becomes(handle, Health::Healthy).await;
    }
    eventually("the registry says ACTIVE and STANDBY again", || async {
        status(&*kv, "echo-service-rust0001").await.as_deref() == Some("ACTIVE")
            && status(&*kv, "echo-service-rust0002").await.as_deref() == Some("STANDBY")
    })
    .await;
    assert_eq!(
        logs.lines("ERROR", PYTHON_ID).len(),
        2,
        "one error per Rust instance"
    );
    assert_eq!(
        logs.lines("INFO", "no live Python instance left").len(),
        2,
        "one line per Rust instance"
    );
    assert!(leader.is_active());
    leader.stop().await.expect("stops");
    standby.stop().await.expect("stops");
}

#[tokio::test]
async fn memory_a_python_instance_in_the_group_makes_rust_instances_unhealthy_until_it_goes() {
    let (logs, _guard) = Captured::start(tracing::Level::INFO);
    a_python_instance_in_the_group_makes_rust_instances_unhealthy_until_it_goes(
        Backend::in_memory(),
        logs,
    )
    .await;
}

#[tokio::test]
async fn nats_a_python_instance_in_the_group_makes_rust_instances_unhealthy_until_it_goes() {
    let (logs, _guard) = Captured::start(tracing::Level::INFO);
    let server = NatsServer::start();
    a_python_instance_in_the_group_makes_rust_instances_unhealthy_until_it_goes(
        nats(&server).await,
        logs,
    )
    .await;
}

/// A client routing by discovery that picks the Python instance (it has no per-instance
/// subject) calls through the service's queue group instead, where an instance answers.
async fn a_routed_call_to_a_python_instance_goes_through_the_queue_group(backend: Backend) {
    let handle = ServiceBuilder::new(Echo)
        .config(config("echo-service-rust1"))
        .start(&backend)
        .await
        .expect("starts");
    let kv = bucket(&backend).await;
    put_python(&*kv, PYTHON_ID, SystemTime::now(), None).await;
    let discovery = Arc::new(BasicServiceDiscovery::new(&backend, TTL));
    eventually("both instances are discovered", || {
        let discovery = Arc::clone(&discovery);
        async move {
            discovery
                .discover(SERVICE, true)
                .await
                .is_ok_and(|found| found.len() == 2)
        }
    })
    .await;
    let sticky = aegis::discovery::SelectionStrategy::Sticky {
        preferred_instance_id: PYTHON_ID.to_owned(),
    };
    let client = EchoClient::new(&backend).with_discovery(discovery, sticky);
    let reply = client.echo("hi".to_owned()).await.expect("answered");
    assert_eq!(reply, "hi");
    handle.stop().await.expect("stops");
}

#[tokio::test]
async fn memory_a_routed_call_to_a_python_instance_goes_through_the_queue_group() {
    a_routed_call_to_a_python_instance_goes_through_the_queue_group(Backend::in_memory()).await;
}

#[tokio::test]
async fn nats_a_routed_call_to_a_python_instance_goes_through_the_queue_group() {
    let server = NatsServer::start();
    a_routed_call_to_a_python_instance_goes_through_the_queue_group(nats(&server).await).await;
}
