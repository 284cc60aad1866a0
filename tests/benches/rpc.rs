//! RPC through aegis (generated client → `#[rpc]` handler over NATS) against raw async-nats
//! request/reply, in the same run, on one nats-server started for the purpose.
//!
//! `cargo bench -p aegis-tests --bench rpc` (env: `BENCH_ROUNDS`, `BENCH_SEQUENTIAL`,
//! `BENCH_PIPELINED`, `BENCH_IN_FLIGHT`; `BENCH_CLUSTER=3` for a 3-node cluster; `BENCH_PROPAGATE=0`:
//! aegis and the wire floor send no `traceparent`, here and with `--load URL`). Each round
//! runs five blocks, in
//! alternating order:
//! - raw requester → raw responder (64 bytes each way);
//! - generated client → aegis service;
//! - raw requester sending a fixed AegisSDK envelope → aegis service (the service side alone);
//! - the wire floor: raw async-nats on both sides speaking the AegisSDK wire as aegis does
//!   (`aegis_tests::wire_floor`: envelopes with fresh ids, timestamps and trace ids, the
//!   `traceparent` header), and nothing else;
//! - the fixed envelope → the wire floor's responder (its service side alone).
//!
//! The responders run in a child process (this binary, `--serve`), the callers here: separate
//! processes and connections, as services and clients are.

use aegis::adapters::nats::NatsOptions;
use aegis::{RequestContext, RpcError, ServiceBuilder};
use aegis_tests::BenchServers;
use aegis_tests::bench::{Block, Peers, block, measure, spawn_raw_echo, summary};
use aegis_tests::wire_floor;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct EchoRequest {
    message: String,
}

#[derive(Serialize, Deserialize)]
struct EchoReply {
    echo: String,
    instance_id: String,
}

struct Echo;

#[aegis::service(name = "bench-echo", version = "1.0.0")]
impl Echo {
    #[rpc]
    async fn echo(&self, ctx: &RequestContext, req: EchoRequest) -> Result<EchoReply, RpcError> {
        Ok(EchoReply {
            echo: req.message,
            instance_id: ctx.instance_id().to_string(),
        })
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        runtime.block_on(serve(&args[i + 1]));
    } else if let Some(i) = args.iter().position(|a| a == "--load") {
        // For profiling a `--serve` process: aegis calls only, against its server.
        runtime.block_on(load(&args[i + 1]));
    } else {
        runtime.block_on(run());
    }
}

async fn load(url: &str) {
    // `BENCH_PROPAGATE=0`: no `traceparent`, to profile the client with and without it.
    let propagate = env("BENCH_PROPAGATE", 1) != 0;
    let backend = NatsOptions::new(url)
        .connect()
        .await
        .expect("connect")
        .with_trace_propagation(propagate);
    let client = EchoClient::new(&backend);
    let figures = measure(
        1_000,
        env("BENCH_PIPELINED", 100_000),
        env("BENCH_IN_FLIGHT", 64),
        &|| {
            let client = client.clone();
            async move {
                let request = EchoRequest {
                    message: String::from("hello"),
                };
                client.echo(request).await.expect("aegis call");
            }
        },
    )
    .await;
    println!("{:.0} req/s", figures.throughput);
}

/// The child process: a raw echo responder on `bench.raw`, the bare wire's responder on
/// `bench.wire` and the aegis service, each on its own connection; prints `ready` and serves
/// until killed.
async fn serve(url: &str) {
    spawn_raw_echo(url, "bench.raw").await;
    let servers: Vec<&str> = url.split(',').collect();
    let floor = async_nats::connect(servers.as_slice())
        .await
        .expect("connect");
    tokio::spawn(wire_floor::serve(
        floor,
        "bench.wire",
        |request: EchoRequest| EchoReply {
            echo: request.message,
            instance_id: String::from("bench-echo-floor"),
        },
    ));
    let backend = NatsOptions::new(url).connect().await.expect("connect");
    let _service = ServiceBuilder::new(Echo)
        .start(&backend)
        .await
        .expect("start");
    println!("ready");
    std::future::pending::<()>().await;
}

/// An AegisSDK request envelope for `bench-echo.echo`, as a Python caller sends it.
fn envelope() -> bytes::Bytes {
    let request = serde_json::json!({
        "message_id": "5f0c6a0e-9d1f-4e43-9a55-8f2b1f7f6c11",
        "trace_id": "0b7f3c2a-2d4e-4f7a-8c1e-6a5b4c3d2e1f",
        "correlation_id": null,
        "timestamp": "2026-12-02T17:00:00.000000+00:00",
        "source": "bench",
        "target": "bench-echo",
        "method": "echo",
        "params": {"message": "hello"},
        "timeout": 5.0,
    });
    bytes::Bytes::from(rmp_serde::to_vec_named(&request).expect("msgpack"))
}

/// One of a block's CPU figures.
type CpuOf = fn(&Block) -> std::time::Duration;

/// The figures of one round, one block per way of calling.
struct Round {
    raw: Block,
    aegis: Block,
    service: Block,
    wire: Block,
    wire_service: Block,
}

async fn run() {
    let rounds = env("BENCH_ROUNDS", 5);
    let sequential = env("BENCH_SEQUENTIAL", 2_000);
    let pipelined = env("BENCH_PIPELINED", 50_000);
    let in_flight = env("BENCH_IN_FLIGHT", 64);
    let server = BenchServers::start();
    let mut child = std::process::Command::new(std::env::current_exe().expect("own path"))
        .args(["--serve", &server.url()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start responders");
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut ready,
    )
    .expect("responders ready");
    assert_eq!(ready.trim(), "ready");
    let peers = Peers {
        service: child.id(),
        servers: server.pids(),
    };

    let raw = async_nats::connect(server.urls()).await.expect("connect");
    let payload = bytes::Bytes::from(vec![b'x'; 64]);
    let envelope = envelope();
    for subject in ["rpc.bench-echo.echo", "bench.wire"] {
        let answer = raw
            .request(subject, envelope.clone())
            .await
            .expect("the service answers an envelope");
        let answer: serde_json::Value = rmp_serde::from_slice(&answer.payload).expect("msgpack");
        assert_eq!(answer["result"]["echo"], "hello", "{subject}: {answer}");
    }
    let propagate = env("BENCH_PROPAGATE", 1) != 0;
    let client_backend = NatsOptions::new(server.url())
        .connect()
        .await
        .expect("connect")
        .with_trace_propagation(propagate);
    let client = EchoClient::new(&client_backend);
    let floor = async_nats::connect(server.urls()).await.expect("connect");

    let raw_call = || {
        let raw = raw.clone();
        let payload = payload.clone();
        async move {
            raw.request("bench.raw", payload)
                .await
                .expect("raw request");
        }
    };
    let aegis_call = || {
        let client = client.clone();
        async move {
            let reply = client
                .echo(EchoRequest {
                    message: String::from("hello"),
                })
                .await
                .expect("aegis call");
            assert_eq!(reply.echo, "hello");
        }
    };
    let envelope_to = |subject: &'static str| {
        let raw = raw.clone();
        let envelope = envelope.clone();
        move || {
            let raw = raw.clone();
            let envelope = envelope.clone();
            async move {
                raw.request(subject, envelope)
                    .await
                    .expect("envelope request");
            }
        }
    };
    let service_call = envelope_to("rpc.bench-echo.echo");
    let wire_service_call = envelope_to("bench.wire");
    let wire_call = || {
        let floor = floor.clone();
        async move {
            let request = EchoRequest {
                message: String::from("hello"),
            };
            let reply: EchoReply = wire_floor::call(
                &floor,
                "bench.wire",
                "bench-echo",
                "echo",
                &request,
                propagate,
            )
            .await;
            assert_eq!(reply.echo, "hello");
        }
    };

    println!(
        "RPC echo on {}, {rounds} rounds; each block: 500 warm-up, {sequential} sequential, \
         {pipelined} with {in_flight} in flight; traceparent sent by aegis and the floor: {propagate}",
        server.describe()
    );
    println!();
    println!(
        "| round | raw req/s | aegis / raw | service alone / raw | wire floor / raw | floor service alone / raw | p50 raw / aegis / floor | client CPU per call raw / aegis / floor | service CPU per call raw / aegis / floor | nats-server CPU per call raw / aegis / floor |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let micros = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let mut results = Vec::new();
    for number in 1..=rounds {
        // Alternating order: a drift of the machine favours no block.
        let mut blocks: [Option<Block>; 5] = [None; 5];
        let order = if number % 2 == 1 {
            [0, 1, 2, 3, 4]
        } else {
            [4, 3, 2, 1, 0]
        };
        for which in order {
            blocks[which] = Some(match which {
                0 => block(sequential, pipelined, in_flight, &peers, &raw_call).await,
                1 => block(sequential, pipelined, in_flight, &peers, &aegis_call).await,
                2 => block(sequential, pipelined, in_flight, &peers, &service_call).await,
                3 => block(sequential, pipelined, in_flight, &peers, &wire_call).await,
                _ => block(sequential, pipelined, in_flight, &peers, &wire_service_call).await,
            });
        }
        let [raw, aegis, service, wire, wire_service] = blocks.map(|b| b.expect("ran"));
        let round = Round {
            raw,
            aegis,
            service,
            wire,
            wire_service,
        };
        let per_raw = |b: &Block| b.figures.throughput / round.raw.figures.throughput;
        let cpu = |f: CpuOf| {
            format!(
                "{:.1} / {:.1} / {:.1} µs",
                micros(f(&round.raw)),
                micros(f(&round.aegis)),
                micros(f(&round.wire))
            )
        };
        println!(
            "| {number} | {:.0} | {:.2}× | {:.2}× | {:.2}× | {:.2}× | {:.0} / {:.0} / {:.0} µs | {} | {} | {} |",
            round.raw.figures.throughput,
            per_raw(&round.aegis),
            per_raw(&round.service),
            per_raw(&round.wire),
            per_raw(&round.wire_service),
            micros(round.raw.figures.p50),
            micros(round.aegis.figures.p50),
            micros(round.wire.figures.p50),
            cpu(|b| b.client_cpu),
            cpu(|b| b.service_cpu),
            cpu(|b| b.server_cpu),
        );
        results.push(round);
    }
    let _ = child.kill();
    let _ = child.wait();
    println!();
    let throughput = |of: fn(&Round) -> &Block, to: fn(&Round) -> &Block| -> Vec<f64> {
        results
            .iter()
            .map(|r| of(r).figures.throughput / to(r).figures.throughput)
            .collect()
    };
    let p50 = |of: fn(&Round) -> &Block, to: fn(&Round) -> &Block| -> Vec<f64> {
        results
            .iter()
            .map(|r| of(r).figures.p50.as_secs_f64() / to(r).figures.p50.as_secs_f64())
            .collect()
    };
    let cpu = |of: fn(&Round) -> &Block, what: CpuOf| -> Vec<f64> {
        results.iter().map(|r| micros(what(of(r)))).collect()
    };
    let ratios = [
        (
            "throughput aegis / raw (64 in flight)",
            throughput(|r| &r.aegis, |r| &r.raw),
        ),
        ("sequential p50 aegis / raw", p50(|r| &r.aegis, |r| &r.raw)),
        (
            "service side alone: raw → aegis service / raw",
            throughput(|r| &r.service, |r| &r.raw),
        ),
        (
            "wire floor: throughput / raw",
            throughput(|r| &r.wire, |r| &r.raw),
        ),
        (
            "wire floor: sequential p50 / raw",
            p50(|r| &r.wire, |r| &r.raw),
        ),
        (
            "wire floor, service side alone / raw",
            throughput(|r| &r.wire_service, |r| &r.raw),
        ),
        (
            "throughput aegis / wire floor",
            throughput(|r| &r.aegis, |r| &r.wire),
        ),
        (
            "sequential p50 aegis / wire floor",
            p50(|r| &r.aegis, |r| &r.wire),
        ),
        (
            "service side alone, aegis / wire floor",
            throughput(|r| &r.service, |r| &r.wire_service),
        ),
    ];
    for (what, values) in &ratios {
        println!("- {what}: median {}×", summary(values, 2));
    }
    let sides: [(&str, CpuOf); 3] = [
        ("client", |b| b.client_cpu),
        ("service", |b| b.service_cpu),
        ("nats-server", |b| b.server_cpu),
    ];
    for (side, what) in sides {
        for (name, of) in [
            ("raw", (|r| &r.raw) as fn(&Round) -> &Block),
            ("aegis", |r| &r.aegis),
            ("wire floor", |r| &r.wire),
        ] {
            println!(
                "- {side} CPU per call, {name}: median {} µs",
                summary(&cpu(of, what), 2)
            );
        }
    }
}
