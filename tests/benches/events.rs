//! Event publish throughput through aegis (`EventPublisher::send`, the full AegisSDK
//! envelope, `Nats-Msg-Id`) against raw async-nats JetStream publish of a payload of the
//! same size, 64 acknowledgements in flight, in the same run, on one nats-server started for
//! the purpose (file storage in a temporary directory).
//!
//! `cargo bench -p aegis-tests --bench events` (env: `BENCH_EVENTS`, `BENCH_IN_FLIGHT`,
//! `BENCH_ROUNDS`). Rounds alternate between the two, so that drift hits both alike.

use std::collections::VecDeque;
use std::time::Instant;

use aegis::adapters::nats::NatsOptions;
use aegis::events::{EventPublisher, Topic};
use aegis_tests::nats_server::NatsServer;
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

/// Keeps `in_flight` acknowledgements outstanding; returns events per second.
async fn pump<F, Fut>(count: usize, in_flight: usize, send: F) -> f64
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Box<dyn std::future::Future<Output = ()> + Unpin + Send>>,
{
    let started = Instant::now();
    let mut pending = VecDeque::with_capacity(in_flight);
    for i in 0..count {
        if pending.len() == in_flight {
            pending.pop_front().unwrap().await;
        }
        pending.push_back(send(i).await);
    }
    for ack in pending {
        ack.await;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let count = env("BENCH_EVENTS", 20_000);
    let in_flight = env("BENCH_IN_FLIGHT", 64);
    let rounds = env("BENCH_ROUNDS", 3);
    let server = NatsServer::start();

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

    let raw = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(raw);
    let raw_payload = bytes::Bytes::from(sample.clone());

    println!(
        "event publish, {count} events per round, {in_flight} in flight, payload {} bytes",
        sample.len()
    );
    let (mut raw_rates, mut aegis_rates) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let raw_rate = pump(count, in_flight, |i| {
            let js = js.clone();
            let payload = raw_payload.clone();
            async move {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", format!("raw-{round}-{i}").as_str());
                let ack = js
                    .publish_with_headers("events.bench.raw", headers, payload)
                    .await
                    .unwrap();
                Box::new(Box::pin(async move {
                    ack.await.unwrap();
                })) as Box<dyn std::future::Future<Output = ()> + Unpin + Send>
            }
        })
        .await;
        let aegis_rate = pump(count, in_flight, |i| {
            let publisher = &publisher;
            let topic = &topic;
            async move {
                let ack = publisher
                    .send(
                        topic,
                        &OrderPlaced {
                            order_id: i as u64,
                            total_cents: 1000,
                        },
                    )
                    .await
                    .unwrap();
                Box::new(Box::pin(async move {
                    ack.await.unwrap();
                })) as Box<dyn std::future::Future<Output = ()> + Unpin + Send>
            }
        })
        .await;
        println!(
            "round {round}: raw {raw_rate:>8.0} ev/s   aegis {aegis_rate:>8.0} ev/s   ratio {:.2}",
            aegis_rate / raw_rate
        );
        raw_rates.push(raw_rate);
        aegis_rates.push(aegis_rate);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (raw_rate, aegis_rate) = (median(&mut raw_rates), median(&mut aegis_rates));
    println!(
        "median: raw {raw_rate:.0} ev/s, aegis {aegis_rate:.0} ev/s, ratio {:.2}",
        aegis_rate / raw_rate
    );
}
