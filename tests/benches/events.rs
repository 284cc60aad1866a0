//! Event publish throughput through aegis (`EventPublisher::send`, the full AegisSDK
//! envelope, `Nats-Msg-Id`) against raw async-nats JetStream publish of a payload of the
//! same size, 64 acknowledgements in flight, in the same run, on one nats-server started for
//! the purpose (file storage in a temporary directory).
//!
//! `cargo bench -p aegis-tests --bench events` (env: `BENCH_EVENTS`, `BENCH_IN_FLIGHT`,
//! `BENCH_ROUNDS`, `BENCH_BLOCK`; `BENCH_CLUSTER=3` for a 3-node cluster, EVENTS R3). Blocks
//! of 1,000 events alternate between the two, so that drift hits both alike.

// A benchmark stops at its first failure.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use aegis::adapters::nats::NatsOptions;
use aegis::events::{EventPublisher, Topic};
use aegis_tests::BenchServers;
use serde::Serialize;

#[derive(Serialize)]
struct OrderPlaced {
    order_id: u64,
    total_cents: u64,
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time this process has used so far (user + system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces), closed by ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // The kernel's USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

type Ack = Pin<Box<dyn Future<Output = ()> + Send>>;

/// At most `in_flight` acknowledgements outstanding.
struct Window {
    pending: VecDeque<Ack>,
    in_flight: usize,
}

impl Window {
    fn new(in_flight: usize) -> Self {
        Window {
            pending: VecDeque::with_capacity(in_flight),
            in_flight,
        }
    }

    async fn push(&mut self, ack: Ack) {
        if self.pending.len() == self.in_flight
            && let Some(oldest) = self.pending.pop_front()
        {
            oldest.await;
        }
        self.pending.push_back(ack);
    }

    async fn finish(self) {
        for ack in self.pending {
            ack.await;
        }
    }
}

/// Raw async-nats JetStream publishes with a `Nats-Msg-Id`; events per second.
async fn raw_round(
    js: &async_nats::jetstream::Context,
    payload: &bytes::Bytes,
    round: usize,
    count: usize,
    in_flight: usize,
) -> f64 {
    let started = Instant::now();
    let mut window = Window::new(in_flight);
    for i in 0..count {
        let mut headers = async_nats::HeaderMap::new();
        // 36 characters, as long as the UUID aegis sends.
        let id = format!("{round:011}-{i:024}");
        headers.insert("Nats-Msg-Id", id.as_str());
        let ack = js
            .publish_with_headers("events.bench.raw", headers, payload.clone())
            .await
            .unwrap();
        window
            .push(Box::pin(async move {
                ack.await.unwrap();
            }))
            .await;
    }
    window.finish().await;
    count as f64 / started.elapsed().as_secs_f64()
}

/// Aegis events through `EventPublisher::send`; events per second.
async fn aegis_round(
    publisher: &EventPublisher,
    topic: &Topic<OrderPlaced>,
    count: usize,
    in_flight: usize,
) -> f64 {
    let started = Instant::now();
    let mut window = Window::new(in_flight);
    for i in 0..count {
        let event = OrderPlaced {
            order_id: i as u64,
            total_cents: 1000,
        };
        let ack = publisher.send(topic, &event).await.unwrap();
        window
            .push(Box::pin(async move {
                ack.await.unwrap();
            }))
            .await;
    }
    window.finish().await;
    count as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let count = env("BENCH_EVENTS", 20_000);
    let in_flight = env("BENCH_IN_FLIGHT", 64);
    let rounds = env("BENCH_ROUNDS", 3);
    let server = BenchServers::start();

    let backend = NatsOptions::new(server.url()).connect().await.unwrap();
    let publisher = EventPublisher::new(&backend)
        .unwrap()
        .with_source("bench-1");
    let topic = Topic::<OrderPlaced>::new("bench", "aegis").unwrap();
    // Creates EVENTS; also tells us the size of one aegis event, for the raw payload.
    let sample = aegis::Codec::MsgPack
        .encode(&serde_json::json!({
            "message_id": "00000000-0000-4000-8000-000000000000",
            "trace_id": "00000000-0000-4000-8000-000000000000",
            "correlation_id": null,
            "timestamp": "2026-11-27T00:00:00.000000+00:00",
            "source": "bench-1",
            "target": null,
            "domain": "bench",
            "event_type": "aegis",
            "payload": {"order_id": 1u64, "total_cents": 1000u64},
            "version": "1.0",
        }))
        .unwrap();
    publisher
        .publish(
            &topic,
            &OrderPlaced {
                order_id: 0,
                total_cents: 1,
            },
        )
        .await
        .unwrap();

    let raw = async_nats::connect(server.urls()).await.unwrap();
    let js = async_nats::jetstream::new(raw);
    let raw_payload = bytes::Bytes::from(sample.clone());

    println!(
        "event publish on {}, {count} events per round, {in_flight} in flight, payload {} bytes",
        server.describe(),
        sample.len()
    );
    // Blocks of `BENCH_BLOCK` events alternate between the two (and which goes first), so
    // that the machine's drift and the growing stream weigh on both alike.
    let block = env("BENCH_BLOCK", 1_000).min(count);
    let (mut raw_rates, mut aegis_rates) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (mut raw_time, mut aegis_time) = (0.0, 0.0);
        let (mut raw_cpu, mut aegis_cpu) = (Duration::ZERO, Duration::ZERO);
        for b in 0..count / block {
            let tag = round * count + b;
            for side in [b % 2, 1 - b % 2] {
                let cpu = cpu_time();
                if side == 0 {
                    raw_time +=
                        block as f64 / raw_round(&js, &raw_payload, tag, block, in_flight).await;
                    raw_cpu += cpu_time().saturating_sub(cpu);
                } else {
                    aegis_time +=
                        block as f64 / aegis_round(&publisher, &topic, block, in_flight).await;
                    aegis_cpu += cpu_time().saturating_sub(cpu);
                }
            }
        }
        let sent = (count / block * block) as f64;
        let (raw_rate, aegis_rate) = (sent / raw_time, sent / aegis_time);
        let per_event = |cpu: Duration| cpu.as_secs_f64() * 1e6 / sent;
        println!(
            "round {round}: raw {raw_rate:>8.0} ev/s   aegis {aegis_rate:>8.0} ev/s   ratio {:.2}   \
             client CPU per event: raw {:.1} µs, aegis {:.1} µs",
            aegis_rate / raw_rate,
            per_event(raw_cpu),
            per_event(aegis_cpu)
        );
        raw_rates.push(raw_rate);
        aegis_rates.push(aegis_rate);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratios: Vec<f64> = aegis_rates
        .iter()
        .zip(&raw_rates)
        .map(|(aegis, raw)| aegis / raw)
        .collect();
    let (lowest, highest) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    println!(
        "median: raw {:.0} ev/s, aegis {:.0} ev/s; ratio per round: median {:.2}, range {lowest:.2}-{highest:.2}",
        median(raw_rates),
        median(aegis_rates),
        median(ratios)
    );
}
