//! RPC through aegis (generated client → `#[rpc]` handler over NATS) against raw async-nats
//! request/reply, in the same run, on one nats-server started for the purpose.
//!
//! `cargo bench -p aegis-tests --bench rpc` (env: `BENCH_ROUNDS`, `BENCH_SEQUENTIAL`,
//! `BENCH_PIPELINED`, `BENCH_IN_FLIGHT`; `BENCH_CLUSTER=3` for a 3-node cluster; `BENCH_PROPAGATE=0`
//! with `--load URL`: calls without `traceparent`). Each round
//! runs three blocks, in alternating order: raw requester → raw responder, generated client →
//! aegis service, and raw requester sending AegisSDK envelopes → aegis service (the service
//! side alone). The responders run in a child process (this binary, `--serve`), the
//! callers here: separate processes and connections, as services and clients are.

use aegis::adapters::nats::NatsOptions;
use aegis::{RequestContext, RpcError, ServiceBuilder};
use aegis_tests::BenchServers;
use aegis_tests::bench::{block, measure, summary};
use futures::StreamExt;
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

/// The child process: a raw echo responder on `bench.raw` and the aegis service, each on its
/// own connection; prints `ready` and serves until killed.
async fn serve(url: &str) {
    let servers: Vec<&str> = url.split(',').collect();
    let responder = async_nats::connect(servers.as_slice())
        .await
        .expect("connect");
    let mut requests = responder.subscribe("bench.raw").await.expect("subscribe");
    responder.flush().await.expect("flush");
    tokio::spawn({
        let responder = responder.clone();
        async move {
            // Replies are sent inside the subscription loop: no task per request.
            while let Some(request) = requests.next().await {
                if let Some(reply) = request.reply {
                    let _ = responder.publish(reply, request.payload).await;
                }
            }
        }
    });
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
    let peer = child.id();

    let raw = async_nats::connect(server.urls()).await.expect("connect");
    let payload = bytes::Bytes::from(vec![b'x'; 64]);
    let envelope = envelope();
    let answer = raw
        .request("rpc.bench-echo.echo", envelope.clone())
        .await
        .expect("the service answers an envelope");
    let answer: serde_json::Value = rmp_serde::from_slice(&answer.payload).expect("msgpack");
    assert_eq!(answer["result"]["echo"], "hello", "{answer}");
    let client_backend = NatsOptions::new(server.url())
        .connect()
        .await
        .expect("connect");
    let client = EchoClient::new(&client_backend);

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
    let service_call = || {
        let raw = raw.clone();
        let envelope = envelope.clone();
        async move {
            raw.request("rpc.bench-echo.echo", envelope)
                .await
                .expect("envelope request");
        }
    };

    println!(
        "RPC echo on {}, {rounds} rounds; each block: 500 warm-up, {sequential} sequential, \
         {pipelined} with {in_flight} in flight",
        server.describe()
    );
    println!();
    println!(
        "| round | raw req/s | aegis req/s | aegis / raw | raw → aegis service req/s | service / raw | raw p50 | aegis p50 | p50 aegis / raw | client CPU per call raw / aegis | service CPU per call raw / aegis |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let (mut throughput, mut p50, mut service, mut cpu_raw, mut cpu_aegis) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut service_cpu_raw, mut service_cpu_aegis) = (vec![], vec![]);
    let micros = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    for round in 1..=rounds {
        // Alternating order: a drift of the machine favours neither side.
        let (raw_block, aegis_block, service_block) = if round % 2 == 1 {
            let r = block(sequential, pipelined, in_flight, peer, &raw_call).await;
            let a = block(sequential, pipelined, in_flight, peer, &aegis_call).await;
            let s = block(sequential, pipelined, in_flight, peer, &service_call).await;
            (r, a, s)
        } else {
            let s = block(sequential, pipelined, in_flight, peer, &service_call).await;
            let a = block(sequential, pipelined, in_flight, peer, &aegis_call).await;
            let r = block(sequential, pipelined, in_flight, peer, &raw_call).await;
            (r, a, s)
        };
        let ratio = aegis_block.figures.throughput / raw_block.figures.throughput;
        let p50_ratio = aegis_block.figures.p50.as_secs_f64() / raw_block.figures.p50.as_secs_f64();
        let service_ratio = service_block.figures.throughput / raw_block.figures.throughput;
        println!(
            "| {round} | {:.0} | {:.0} | {ratio:.2}× | {:.0} | {service_ratio:.2}× | {:.0} µs | {:.0} µs | {p50_ratio:.2}× | {:.1} / {:.1} µs | {:.1} / {:.1} µs |",
            raw_block.figures.throughput,
            aegis_block.figures.throughput,
            service_block.figures.throughput,
            raw_block.figures.p50.as_secs_f64() * 1e6,
            aegis_block.figures.p50.as_secs_f64() * 1e6,
            micros(raw_block.client_cpu),
            micros(aegis_block.client_cpu),
            micros(raw_block.service_cpu),
            micros(aegis_block.service_cpu),
        );
        throughput.push(ratio);
        p50.push(p50_ratio);
        service.push(service_ratio);
        cpu_raw.push(micros(raw_block.client_cpu));
        cpu_aegis.push(micros(aegis_block.client_cpu));
        service_cpu_raw.push(micros(raw_block.service_cpu));
        service_cpu_aegis.push(micros(aegis_block.service_cpu));
    }
    let _ = child.kill();
    let _ = child.wait();
    println!();
    for (what, values, unit) in [
        ("throughput aegis / raw (64 in flight)", &throughput, "×"),
        ("sequential p50 aegis / raw", &p50, "×"),
        (
            "service side alone: raw → aegis service / raw",
            &service,
            "×",
        ),
        ("client CPU per call, raw", &cpu_raw, " µs"),
        ("client CPU per call, aegis", &cpu_aegis, " µs"),
        (
            "service CPU per call, raw responder",
            &service_cpu_raw,
            " µs",
        ),
        (
            "service CPU per call, aegis service",
            &service_cpu_aegis,
            " µs",
        ),
    ] {
        println!("- {what}: median {}{unit}", summary(values, 2));
    }
}
