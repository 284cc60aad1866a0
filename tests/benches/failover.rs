//! Failover of a single-active service, measured with real processes: three
//! `order_processor` instances (lease TTL 2 s) on one nats-server; the leader is SIGKILLed or
//! SIGTERMed, and the time until another instance processes an order is recorded. Meanwhile a
//! client calls `process_order` through the generated client, back to back, and its success
//! rate and latencies are recorded.
//!
//! The stopwatch is a caller that retries every 10 ms; the load is a caller with an ordinary
//! backoff.
//!
//! `cargo build --release --examples && cargo bench -p aegis-tests --bench failover`
//! (env: `BENCH_TRIALS`, default 10 of each kind; `BENCH_CLUSTER=3` runs on a 3-node
//! cluster, everything R3: the processes die, the election stream keeps its leader).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aegis::RetryPolicy;
use aegis::adapters::nats::NatsOptions;
use aegis_examples::orders::{OrderProcessorClient, ProcessOrder, Processed};
use aegis_tests::BenchServers;
use aegis_tests::process::Running;

const TTL_MS: u64 = 2_000;

struct Fleet {
    url: String,
    processes: HashMap<String, Running>,
    next_id: usize,
}

impl Fleet {
    fn top_up(&mut self) {
        while self.processes.len() < 3 {
            self.next_id += 1;
            let id = format!("op-{}", self.next_id);
            let (process, _) = Running::start(
                "order_processor",
                &self.url,
                &["--instance-id", &id, "--leader-ttl-ms", &TTL_MS.to_string()],
            );
            self.processes.insert(id, process);
        }
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

async fn order(client: &OrderProcessorClient, id: String) -> aegis::Result<Processed> {
    client.process_order(ProcessOrder { order_id: id }).await
}

fn main() {
    let trials: usize = std::env::var("BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let server = BenchServers::start();
        println!("on {}", server.describe());
        let mut fleet = Fleet {
            url: server.url(),
            processes: HashMap::new(),
            next_id: 0,
        };
        fleet.top_up();
        let backend = NatsOptions::new(server.url()).connect().await.expect("connect");
        // Retries sized to the lease: about 4 s of NOT_ACTIVE / no-responders tolerance.
        let client = OrderProcessorClient::new(&backend)
            .with_timeout(Duration::from_millis(1_000))
            .with_retry(RetryPolicy {
                max_attempts: 12,
                initial_delay_ms: 50,
                max_delay_ms: 500,
                ..RetryPolicy::default()
            });

        // The stopwatch: retries every 10 ms, so that the figure is the failover, not the
        // backoff of a retrying caller.
        let probe = client.clone().with_retry(RetryPolicy {
            max_attempts: 1_000,
            initial_delay_ms: 10,
            max_delay_ms: 10,
            backoff_multiplier: 1.0,
            jitter_factor: 0.0,
        });

        // Steady state: a healthy leader.
        let mut steady_ok = 0;
        let steady_calls = 2_000;
        for i in 0..steady_calls {
            if order(&client, format!("steady-{i}")).await.is_ok() {
                steady_ok += 1;
            }
        }

        // Background load during all failovers.
        let running = Arc::new(AtomicBool::new(true));
        let load = tokio::spawn({
            let client = client.clone();
            let running = Arc::clone(&running);
            async move {
                let (mut ok, mut failed, mut latencies) = (0usize, 0usize, Vec::new());
                let mut i = 0;
                while running.load(Ordering::Relaxed) {
                    i += 1;
                    let started = Instant::now();
                    match order(&client, format!("load-{i}")).await {
                        Ok(_) => {
                            ok += 1;
                            latencies.push(started.elapsed());
                        }
                        Err(_) => failed += 1,
                    }
                }
                (ok, failed, latencies)
            }
        });

        let mut results: HashMap<&str, Vec<Duration>> = HashMap::new();
        for (kind, signal) in [("crash (SIGKILL)", "KILL"), ("graceful (SIGTERM)", "TERM")] {
            for _ in 0..trials {
                fleet.top_up();
                let leader = order(&client, "probe".into()).await.expect("a leader");
                let mut process = fleet.processes.remove(&leader.instance_id).expect("leader process");
                process.signal(signal);
                let signalled = Instant::now();
                loop {
                    if let Ok(p) = order(&probe, "after".into()).await
                        && p.instance_id != leader.instance_id
                    {
                        break;
                    }
                }
                results.entry(kind).or_default().push(signalled.elapsed());
                if signal == "TERM" {
                    let _ = process.wait(Duration::from_secs(10));
                }
            }
        }
        running.store(false, Ordering::Relaxed);
        let (ok, failed, mut latencies) = load.await.expect("load");
        latencies.sort_unstable();

        println!("steady state: {steady_ok}/{steady_calls} process_order calls succeeded");
        println!("| failover | trials | p50 | p99 | max |");
        println!("|---|---|---|---|---|");
        for kind in ["crash (SIGKILL)", "graceful (SIGTERM)"] {
            let mut times = results.remove(kind).unwrap_or_default();
            times.sort_unstable();
            println!(
                "| {kind} | {} | {:.0} ms | {:.0} ms | {:.0} ms |",
                times.len(),
                percentile(&times, 50).as_secs_f64() * 1e3,
                percentile(&times, 99).as_secs_f64() * 1e3,
                times.last().copied().unwrap_or_default().as_secs_f64() * 1e3
            );
        }
        println!(
            "during the failovers: {ok} of {} calls succeeded ({:.2} %); latency p50 {:.1} ms, p99 {:.0} ms, max {:.0} ms",
            ok + failed,
            100.0 * ok as f64 / (ok + failed).max(1) as f64,
            percentile(&latencies, 50).as_secs_f64() * 1e3,
            percentile(&latencies, 99).as_secs_f64() * 1e3,
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
    });
}
