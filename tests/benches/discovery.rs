//! Cost of a cached discovery lookup plus instance selection: what a routed client call adds.
//!
//! `cargo bench -p aegis-tests --bench discovery` (env: `BENCH_LOOKUPS`). In-memory backend,
//! three registered instances; lookups run on one thread.

use std::time::{Duration, Instant};

use aegis::discovery::{
    BasicServiceDiscovery, CacheConfig, CachedServiceDiscovery, SelectionStrategy, Selector,
    ServiceDiscovery, WatchableCacheConfig, WatchableCachedServiceDiscovery,
};
use aegis::registry::KvServiceRegistry;
use aegis::{Backend, RpcError, ServiceBuilder};

struct Svc;

#[aegis::service(name = "bench-svc", version = "1.0.0")]
impl Svc {
    #[rpc]
    async fn ping(&self) -> Result<(), RpcError> {
        Ok(())
    }
}

async fn per_lookup(
    discovery: &dyn ServiceDiscovery,
    selector: &Selector,
    lookups: u32,
) -> Duration {
    for _ in 0..10_000 {
        let instances = discovery
            .discover("bench-svc", true)
            .await
            .expect("discover");
        std::hint::black_box(selector.select(&instances));
    }
    let started = Instant::now();
    for _ in 0..lookups {
        let instances = discovery
            .discover("bench-svc", true)
            .await
            .expect("discover");
        std::hint::black_box(selector.select(&instances));
    }
    started.elapsed() / lookups
}

fn main() {
    let lookups: u32 = std::env::var("BENCH_LOOKUPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let backend = Backend::in_memory();
        let mut handles = Vec::new();
        for _ in 0..3 {
            handles.push(
                ServiceBuilder::new(Svc)
                    .start(&backend)
                    .await
                    .expect("start"),
            );
        }
        let ttl = Duration::from_secs(30);
        let basic = BasicServiceDiscovery::new(&backend, ttl);
        let cached = CachedServiceDiscovery::new(basic.clone(), CacheConfig::default());
        let watched = WatchableCachedServiceDiscovery::new(
            basic.clone(),
            KvServiceRegistry::new(&backend),
            WatchableCacheConfig::default(),
        );
        println!("cached discovery lookup + selection, 3 instances, {lookups} lookups, one thread");
        println!("| discovery | strategy | per lookup |");
        println!("|---|---|---|");
        let strategies = [
            ("round robin", SelectionStrategy::RoundRobin),
            ("random", SelectionStrategy::Random),
            (
                "sticky",
                SelectionStrategy::Sticky {
                    preferred_instance_id: handles[1].instance_id().to_string(),
                },
            ),
        ];
        for (name, strategy) in strategies {
            let selector = Selector::new(strategy);
            let d = per_lookup(&cached, &selector, lookups).await;
            println!("| cached | {name} | {} ns |", d.as_nanos());
        }
        let selector = Selector::new(SelectionStrategy::RoundRobin);
        let d = per_lookup(&watched, &selector, lookups).await;
        println!(
            "| watch-driven cached | round robin | {} ns |",
            d.as_nanos()
        );
        let d = per_lookup(&basic, &selector, lookups / 100).await;
        println!(
            "| basic (registry read every time, in memory) | round robin | {} ns |",
            d.as_nanos()
        );
        for handle in handles {
            handle.stop().await.expect("stop");
        }
    });
}
