//! The registry with real processes: `examples/echo_service` registers, deregisters on
//! SIGTERM, and is dropped by discovery after SIGKILL within `registry_ttl + heartbeat_interval`.

use std::time::{Duration, Instant};

use aegis::adapters::nats::NatsOptions;
use aegis::discovery::{BasicServiceDiscovery, ServiceDiscovery};
use aegis::ports::BucketConfig;
use aegis::registry::{REGISTRY_BUCKET, registry_key};
use aegis_tests::nats_server::NatsServer;
use aegis_tests::process::Running;
use serde_json::Value;

async fn entry(backend: &aegis::Backend, id: &str) -> Option<Value> {
    let kv = backend
        .kv()
        .open_bucket(BucketConfig::new(REGISTRY_BUCKET))
        .await
        .expect("bucket");
    let entry = kv
        .get(&registry_key("echo-service", id))
        .await
        .expect("get")?;
    Some(serde_json::from_slice(&entry.value).expect("json"))
}

#[tokio::test]
async fn echo_service_registers_and_is_gone_within_a_second_of_sigterm() {
    let server = NatsServer::start();
    let backend = NatsOptions::new(server.url())
        .connect()
        .await
        .expect("connects");
    let (mut service, ready) = Running::start(
        "echo_service",
        &server.url(),
        &["--instance-id", "echo-term"],
    );
    assert!(ready.contains("ready"), "{ready}");

    let value = entry(&backend, "echo-term").await.expect("registered");
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("map")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
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
    assert_eq!(value["instanceId"], "echo-term");
    assert_eq!(value["serviceName"], "echo-service");

    service.signal("TERM");
    let signalled = Instant::now();
    while entry(&backend, "echo-term").await.is_some() {
        assert!(
            signalled.elapsed() < Duration::from_secs(1),
            "still registered 1 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await; // polling interval
    }
    let gone = signalled.elapsed();
    assert_eq!(
        service.wait(Duration::from_secs(10)),
        Some(0),
        "graceful exit"
    );
    println!("entry gone {gone:?} after SIGTERM");
}

#[tokio::test]
async fn discovery_drops_a_killed_instance_within_ttl_plus_interval() {
    let ttl = Duration::from_millis(1500);
    let interval = Duration::from_millis(300);
    let server = NatsServer::start();
    let backend = NatsOptions::new(server.url())
        .connect()
        .await
        .expect("connects");
    let (service, _) = Running::start(
        "echo_service",
        &server.url(),
        &[
            "--instance-id",
            "echo-kill",
            "--registry-ttl-ms",
            "1500",
            "--heartbeat-interval-ms",
            "300",
        ],
    );
    let discovery = BasicServiceDiscovery::new(&backend, ttl);
    let found = discovery
        .discover("echo-service", true)
        .await
        .expect("discover");
    assert_eq!(found.len(), 1);

    service.signal("KILL");
    let killed = Instant::now();
    loop {
        let found = discovery
            .discover("echo-service", true)
            .await
            .expect("discover");
        if found.is_empty() {
            break;
        }
        assert!(
            killed.elapsed() <= ttl + interval,
            "still discovered {:?} after SIGKILL",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // polling interval
    }
    let dropped = killed.elapsed();
    assert!(dropped <= ttl + interval, "{dropped:?}");
    // The dead entry is still in the bucket (no expiry events before nats-server 2.11): only
    // its heartbeat says it is gone.
    assert!(entry(&backend, "echo-kill").await.is_some());
    println!("killed instance dropped by discovery after {dropped:?}");
}
