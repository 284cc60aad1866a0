//! What the RPC benchmarks share (`benches/rpc.rs`, `benches/observability.rs`): one block of
//! calls measured (sequential latency, pipelined throughput, CPU per call of each process),
//! and the median of a round's ratios.

use std::time::{Duration, Instant};

use futures::StreamExt;

/// Calls made before anything is measured.
pub const WARM_UP: usize = 500;

/// What one block measured.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// Median latency of the sequential calls.
    pub p50: Duration,
    /// Calls per second with `in_flight` at once.
    pub throughput: f64,
}

/// [`WARM_UP`] calls, then `sequential` one after the other (latency), then `pipelined` with
/// `in_flight` at once (throughput).
pub async fn measure<F, Fut>(
    sequential: usize,
    pipelined: usize,
    in_flight: usize,
    call: &F,
) -> Figures
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..WARM_UP {
        call().await;
    }
    let mut latencies = Vec::with_capacity(sequential);
    for _ in 0..sequential {
        let started = Instant::now();
        call().await;
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    let p50 = latencies[latencies.len() / 2];
    let started = Instant::now();
    futures::stream::iter(0..pipelined)
        .map(|_| call())
        .buffer_unordered(in_flight)
        .for_each(|()| async {})
        .await;
    let throughput = pipelined as f64 / started.elapsed().as_secs_f64();
    Figures { p50, throughput }
}

/// The middle value (the upper one of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `values` as `median (range low–high)`, each with `digits` decimals.
pub fn summary(values: &[f64], digits: usize) -> String {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let middle = median(values.to_vec());
    format!("{middle:.digits$} (range {low:.digits$}–{high:.digits$})")
}

/// User + system CPU time of a process so far, all its threads: this one (`None`) or `pid`
/// (`/proc/{pid}/stat`, in clock ticks: 10 ms, against blocks of a second or more).
pub fn process_cpu(pid: Option<u32>) -> Duration {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The processes a block's calls go through besides this one.
#[derive(Debug, Clone)]
pub struct Peers {
    /// The process serving the calls.
    pub service: u32,
    /// The nats-servers carrying them.
    pub servers: Vec<u32>,
}

/// A block's figures and the CPU per call of this process, of the process serving the calls
/// and of the nats-servers, over the whole block, warm-up included.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    /// Latency and throughput.
    pub figures: Figures,
    /// This process (the caller).
    pub client_cpu: Duration,
    /// The serving process.
    pub service_cpu: Duration,
    /// The nats-servers, together.
    pub server_cpu: Duration,
}

/// Runs [`measure`] and reads the CPU each process spent on it.
pub async fn block<F, Fut>(
    sequential: usize,
    pipelined: usize,
    in_flight: usize,
    peers: &Peers,
    call: &F,
) -> Block
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let servers = || {
        peers
            .servers
            .iter()
            .map(|pid| process_cpu(Some(*pid)))
            .sum::<Duration>()
    };
    let (client, service, server) = (
        process_cpu(None),
        process_cpu(Some(peers.service)),
        servers(),
    );
    let figures = measure(sequential, pipelined, in_flight, call).await;
    let calls = u32::try_from(WARM_UP + sequential + pipelined).unwrap_or(u32::MAX);
    Block {
        figures,
        client_cpu: process_cpu(None).saturating_sub(client) / calls,
        service_cpu: process_cpu(Some(peers.service)).saturating_sub(service) / calls,
        server_cpu: servers().saturating_sub(server) / calls,
    }
}

/// Connects to `url` (comma-separated for a cluster) and echoes every request on `subject`
/// from inside the subscription loop (no task per request): the raw responder the benches
/// measure aegis against. Returns once it is subscribed.
pub async fn spawn_raw_echo(url: &str, subject: &'static str) {
    let servers: Vec<&str> = url.split(',').collect();
    let responder = async_nats::connect(servers.as_slice())
        .await
        .expect("connect");
    let mut requests = responder.subscribe(subject).await.expect("subscribe");
    responder.flush().await.expect("flush");
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let _ = responder.publish(reply, request.payload).await;
            }
        }
    });
}
