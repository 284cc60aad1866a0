//! Memory of an idle `echo_service` (the release build of the example) and whether it stays
//! flat under load: its RSS after it is ready, and again after 1,000,000 requests.
//!
//! ```sh
//! cargo build --release -p aegis-examples --example echo_service
//! cargo bench -p aegis-tests --bench footprint     # BENCH_REQUESTS overrides the count
//! ```

use std::time::{Duration, Instant};

use aegis_tests::nats_server::NatsServer;
use futures::StreamExt;

/// Resident set size of `pid`, in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// The RSS once it has not changed for a second (start-up allocations settled).
fn settled_rss_kib(pid: u32) -> u64 {
    let mut last = rss_kib(pid);
    let mut unchanged_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    while unchanged_since.elapsed() < Duration::from_secs(1) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100)); // sampling a gauge
        let now = rss_kib(pid);
        if now != last {
            last = now;
            unchanged_since = Instant::now();
        }
    }
    last
}

fn main() {
    let requests: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let binary = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/release/examples/echo_service");
    assert!(
        binary.exists(),
        "build it first: cargo build --release -p aegis-examples --example echo_service"
    );
    let server = NatsServer::start();
    let mut child = std::process::Command::new(&binary)
        .env("NATS_URL", server.url())
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start echo_service");
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut ready,
    )
    .expect("ready line");
    assert!(ready.contains("ready"), "{ready}");
    let pid = child.id();
    let idle = settled_rss_kib(pid);

    let envelope = bytes::Bytes::from(
        rmp_serde::to_vec_named(&serde_json::json!({
            "message_id": "m", "trace_id": "t", "correlation_id": null,
            "timestamp": "2026-12-02T17:00:00.000000+00:00", "source": "bench",
            "target": "echo-service", "method": "echo", "params": {"message": "hello"},
            "timeout": 5.0,
        }))
        .expect("msgpack"),
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let started = Instant::now();
    runtime.block_on(async {
        let client = async_nats::connect(server.url()).await.expect("connect");
        futures::stream::iter(0..requests)
            .map(|_| {
                let client = client.clone();
                let envelope = envelope.clone();
                async move {
                    client
                        .request("rpc.echo-service.echo", envelope)
                        .await
                        .expect("echo answers");
                }
            })
            .buffer_unordered(64)
            .for_each(|()| async {})
            .await;
    });
    let elapsed = started.elapsed();
    let loaded = settled_rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    let growth = loaded.saturating_sub(idle) * 1024;
    println!("echo_service (release), one nats-server, {requests} requests with 64 in flight");
    println!("- idle RSS: {idle} KiB ({:.2} MiB)", idle as f64 / 1024.0);
    println!(
        "- RSS after the requests: {loaded} KiB; growth {growth} bytes, {:.3} bytes per request",
        growth as f64 / requests as f64
    );
    println!(
        "- {:.0} requests/s while measuring",
        requests as f64 / elapsed.as_secs_f64()
    );
}
