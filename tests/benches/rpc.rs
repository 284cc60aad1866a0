//! RPC through aegis (generated client → `#[rpc]` handler over NATS) against raw async-nats
//! request/reply, in the same run, on one nats-server started for the purpose.
//!
//! `cargo bench -p aegis-tests --bench rpc` (env: `BENCH_SEQUENTIAL`, `BENCH_PIPELINED`,
//! `BENCH_IN_FLIGHT`; `BENCH_CLUSTER=3` for a 3-node cluster). The responders run in a child process (this binary, `--serve`), the
//! callers here: separate processes and connections, as services and clients are.

use std::time::{Duration, Instant};

use aegis::adapters::nats::NatsOptions;
use aegis::{RequestContext, RpcError, ServiceBuilder};
use aegis_tests::BenchServers;
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

struct Figures {
    p50: Duration,
    p99: Duration,
    throughput: f64,
}

async fn measure<F, Fut>(sequential: usize, pipelined: usize, in_flight: usize, call: F) -> Figures
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..500 {
        call().await; // warm-up
    }
    let mut latencies = Vec::with_capacity(sequential);
    for _ in 0..sequential {
        let started = Instant::now();
        call().await;
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    let started = Instant::now();
    futures::stream::iter(0..pipelined)
        .map(|_| call())
        .buffer_unordered(in_flight)
        .for_each(|()| async {})
        .await;
    let throughput = pipelined as f64 / started.elapsed().as_secs_f64();
    Figures {
        p50,
        p99,
        throughput,
    }
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
    let backend = NatsOptions::new(url).connect().await.expect("connect");
    let client = EchoClient::new(&backend);
    let figures = measure(
        1_000,
        env("BENCH_PIPELINED", 100_000),
        env("BENCH_IN_FLIGHT", 64),
        || {
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

async fn run() {
    let sequential = env("BENCH_SEQUENTIAL", 5_000);
    let pipelined = env("BENCH_PIPELINED", 100_000);
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

    let raw = async_nats::connect(server.urls()).await.expect("connect");
    let payload = bytes::Bytes::from(vec![b'x'; 64]);
    let raw_figures = measure(sequential, pipelined, in_flight, || {
        let raw = raw.clone();
        let payload = payload.clone();
        async move {
            raw.request("bench.raw", payload)
                .await
                .expect("raw request");
        }
    })
    .await;

    let client_backend = NatsOptions::new(server.url())
        .connect()
        .await
        .expect("connect");
    let client = EchoClient::new(&client_backend);
    let aegis_figures = measure(sequential, pipelined, in_flight, || {
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
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();

    println!(
        "RPC echo on {}, {sequential} sequential calls, {pipelined} calls with {in_flight} in flight",
        server.describe()
    );
    println!("| path | p50 | p99 | throughput (req/s) |");
    println!("|---|---|---|---|");
    for (name, f) in [("raw async-nats", &raw_figures), ("aegis", &aegis_figures)] {
        println!(
            "| {name} | {:.0} µs | {:.0} µs | {:.0} |",
            f.p50.as_secs_f64() * 1e6,
            f.p99.as_secs_f64() * 1e6,
            f.throughput
        );
    }
    println!(
        "| aegis / raw | {:.2}× | {:.2}× | {:.2}× |",
        aegis_figures.p50.as_secs_f64() / raw_figures.p50.as_secs_f64(),
        aegis_figures.p99.as_secs_f64() / raw_figures.p99.as_secs_f64(),
        aegis_figures.throughput / raw_figures.throughput
    );
}
