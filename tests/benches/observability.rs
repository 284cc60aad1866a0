//! What observability costs: generated client → aegis service with trace propagation and
//! metrics on (the `metrics` facade with a Prometheus recorder installed, on both sides),
//! against the same build with them off (`NoMetrics`, `Backend::with_trace_propagation(false)`),
//! in the same run, on one nats-server.
//!
//! `cargo bench -p aegis-tests --bench observability` (env: `BENCH_OBSERVE=traces|metrics`
//! to turn on one of the two, `BENCH_ROUNDS`,
//! `BENCH_SEQUENTIAL`, `BENCH_PIPELINED`, `BENCH_IN_FLIGHT`). Each round runs both blocks,
//! in alternating order. The services run in a child process (this binary, `--serve`), each
//! on its own connection; the clients here, each on its own.

use std::sync::Arc;

use aegis::adapters::MetricsRs;
use aegis::adapters::nats::NatsOptions;
use aegis::{RequestContext, RpcError, ServiceBuilder};
use aegis_tests::BenchServers;
use aegis_tests::bench::{Block, Peers, block, spawn_raw_echo, summary};
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

fn reply(ctx: &RequestContext, req: EchoRequest) -> EchoReply {
    EchoReply {
        echo: req.message,
        instance_id: ctx.instance_id().to_string(),
    }
}

/// Served with metrics; called with propagation and metrics.
struct Observed;

#[aegis::service(name = "bench-observed", version = "1.0.0")]
impl Observed {
    #[rpc]
    async fn echo(&self, ctx: &RequestContext, req: EchoRequest) -> Result<EchoReply, RpcError> {
        Ok(reply(ctx, req))
    }
}

/// Served without metrics; called without propagation or metrics.
struct Dark;

#[aegis::service(name = "bench-dark", version = "1.0.0")]
impl Dark {
    #[rpc]
    async fn echo(&self, ctx: &RequestContext, req: EchoRequest) -> Result<EchoReply, RpcError> {
        Ok(reply(ctx, req))
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The metrics facade with a Prometheus recorder, as `--metrics-addr` installs it: with its
/// upkeep every 5 s, which folds histogram samples into their buckets (without it they pile
/// up until a scrape, which nothing here makes).
fn install_recorder() {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0])
        .expect("buckets")
        .install_recorder()
        .expect("recorder");
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(5));
            handle.run_upkeep();
        }
    });
}

/// `BENCH_OBSERVE`: what the "on" side turns on: `all` (default), `traces` or `metrics`;
/// `raw-header` compares raw async-nats requests with and without a `traceparent` header
/// instead (what the header costs with no aegis at all).
fn observe() -> (bool, bool) {
    match std::env::var("BENCH_OBSERVE").as_deref() {
        Ok("traces") => (true, false),
        Ok("metrics") => (false, true),
        _ => (true, true),
    }
}

fn raw_header() -> bool {
    std::env::var("BENCH_OBSERVE").as_deref() == Ok("raw-header")
}

/// Connects, with `MetricsRs` if `metrics`.
async fn connect(url: &str, metrics: bool) -> aegis::Backend {
    let options = NatsOptions::new(url);
    let options = if metrics {
        options.metrics(Arc::new(MetricsRs))
    } else {
        options
    };
    options.connect().await.expect("connect")
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        runtime.block_on(serve(&args[i + 1]));
    } else {
        runtime.block_on(run());
    }
}

async fn serve(url: &str) {
    install_recorder();
    let observed = connect(url, observe().1).await;
    let dark = NatsOptions::new(url).connect().await.expect("connect");
    let _observed = ServiceBuilder::new(Observed)
        .start(&observed)
        .await
        .expect("start");
    let _dark = ServiceBuilder::new(Dark).start(&dark).await.expect("start");
    spawn_raw_echo(url, "bench.raw").await;
    println!("ready");
    std::future::pending::<()>().await;
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
        .expect("start services");
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut ready,
    )
    .expect("services ready");
    assert_eq!(ready.trim(), "ready");
    let peers = Peers {
        service: child.id(),
        servers: server.pids(),
    };

    install_recorder();
    let (traces, metrics) = observe();
    let observed = connect(&server.url(), metrics)
        .await
        .with_trace_propagation(traces);
    let dark = NatsOptions::new(server.url())
        .connect()
        .await
        .expect("connect")
        .with_trace_propagation(false);
    let observed = ObservedClient::new(&observed);
    let dark = DarkClient::new(&dark);
    let observed_call = || {
        let client = observed.clone();
        async move {
            let request = EchoRequest {
                message: String::from("hello"),
            };
            assert_eq!(client.echo(request).await.expect("call").echo, "hello");
        }
    };
    let dark_call = || {
        let client = dark.clone();
        async move {
            let request = EchoRequest {
                message: String::from("hello"),
            };
            assert_eq!(client.echo(request).await.expect("call").echo, "hello");
        }
    };

    if raw_header() {
        let raw = async_nats::connect(server.urls()).await.expect("connect");
        let payload = bytes::Bytes::from(vec![b'x'; 64]);
        let plain_call = || {
            let raw = raw.clone();
            let payload = payload.clone();
            async move {
                raw.request("bench.raw", payload)
                    .await
                    .expect("raw request");
            }
        };
        let header_call = || {
            let raw = raw.clone();
            let payload = payload.clone();
            async move {
                let mut headers = async_nats::HeaderMap::new();
                let traceparent = aegis::TraceContext::root().traceparent();
                headers.insert(
                    async_nats::HeaderName::from_static("traceparent"),
                    traceparent,
                );
                raw.request_with_headers("bench.raw", headers, payload)
                    .await
                    .expect("raw request");
            }
        };
        println!(
            "Raw async-nats echo on {}, on = a `traceparent` header on each request; {rounds} rounds; each block: 500 warm-up, {sequential} sequential, \
             {pipelined} with {in_flight} in flight",
            server.describe()
        );
        compare(
            &plain_call,
            &header_call,
            &peers,
            [rounds, sequential, pipelined, in_flight],
        )
        .await;
    } else {
        println!(
            "RPC echo on {}, on = traces {traces}, metrics {metrics}; {rounds} rounds; each block: 500 warm-up, {sequential} sequential, \
             {pipelined} with {in_flight} in flight",
            server.describe()
        );
        compare(
            &dark_call,
            &observed_call,
            &peers,
            [rounds, sequential, pipelined, in_flight],
        )
        .await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `rounds` of an "off" and an "on" block, alternating, and prints their figures.
async fn compare<Off, OffFut, On, OnFut>(
    off_call: &Off,
    on_call: &On,
    peers: &Peers,
    [rounds, sequential, pipelined, in_flight]: [usize; 4],
) where
    Off: Fn() -> OffFut,
    OffFut: std::future::Future<Output = ()>,
    On: Fn() -> OnFut,
    OnFut: std::future::Future<Output = ()>,
{
    println!();
    println!(
        "| round | off req/s | on req/s | on / off | off p50 | on p50 | p50 on / off | client CPU per call off / on | service CPU per call off / on | nats-server CPU per call off / on |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let (mut throughput, mut p50, mut client_cpu, mut service_cpu, mut server_cpu) =
        (vec![], vec![], vec![], vec![], vec![]);
    let micros = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    for round in 1..=rounds {
        // Alternating order: a drift of the machine favours neither side.
        let (off, on): (Block, Block) = if round % 2 == 1 {
            let off = block(sequential, pipelined, in_flight, peers, off_call).await;
            let on = block(sequential, pipelined, in_flight, peers, on_call).await;
            (off, on)
        } else {
            let on = block(sequential, pipelined, in_flight, peers, on_call).await;
            let off = block(sequential, pipelined, in_flight, peers, off_call).await;
            (off, on)
        };
        let ratio = on.figures.throughput / off.figures.throughput;
        let p50_ratio = on.figures.p50.as_secs_f64() / off.figures.p50.as_secs_f64();
        println!(
            "| {round} | {:.0} | {:.0} | {ratio:.3}× | {:.0} µs | {:.0} µs | {p50_ratio:.3}× | {:.1} / {:.1} µs | {:.1} / {:.1} µs | {:.1} / {:.1} µs |",
            off.figures.throughput,
            on.figures.throughput,
            micros(off.figures.p50),
            micros(on.figures.p50),
            micros(off.client_cpu),
            micros(on.client_cpu),
            micros(off.service_cpu),
            micros(on.service_cpu),
            micros(off.server_cpu),
            micros(on.server_cpu),
        );
        throughput.push(ratio);
        p50.push(p50_ratio);
        client_cpu.push(micros(on.client_cpu) / micros(off.client_cpu));
        service_cpu.push(micros(on.service_cpu) / micros(off.service_cpu));
        server_cpu.push(micros(on.server_cpu) / micros(off.server_cpu));
    }
    println!();
    for (what, values) in [
        ("throughput on / off (64 in flight)", &throughput),
        ("sequential p50 on / off", &p50),
        ("client CPU per call on / off", &client_cpu),
        ("service CPU per call on / off", &service_cpu),
        ("nats-server CPU per call on / off", &server_cpu),
    ] {
        println!("- {what}: median {}×", summary(values, 3));
    }
}
