//! N real nats-servers in one JetStream cluster, for tests that kill, restart or freeze single
//! nodes: loopback only, free ports, a temporary store per node, every process killed and every
//! file removed when dropped (also after a panic).
//!
//! Node `i` is named `n{i}`. The binary is found as for [`crate::nats_server`]. Readiness and
//! leaders are read from each node's monitoring port (`/healthz`, `/jsz`).

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::nats_server::{binary, rand_suffix, spawn};

/// How long the cluster, or a restarted node, may take to become usable.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two looks at a condition nothing notifies about.
const POLL: Duration = Duration::from_millis(50);
/// How often `start` picks new ports when another process took one first.
const START_ATTEMPTS: u32 = 3;
/// Per monitoring request; a loopback answer takes milliseconds.
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);
const CLUSTER_NAME: &str = "aegis-test";

/// Held from picking free ports until the servers listen on them, so that clusters started by
/// parallel tests cannot pick the same just-released port.
static PICKING_PORTS: Mutex<()> = Mutex::new(());

/// A running cluster of nats-servers with JetStream.
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

#[derive(Debug)]
struct Node {
    name: String,
    ports: Ports,
    dir: PathBuf,
    child: Option<Child>,
    paused: bool,
    starts: u32,
}

#[derive(Debug, Clone, Copy)]
struct Ports {
    client: u16,
    route: u16,
    http: u16,
}

/// Why a start attempt should be retried with other ports.
struct PortTaken(String);

impl NatsCluster {
    /// Starts `n` clustered servers and waits until every node is healthy and they agree on a
    /// JetStream meta leader; panics with the servers' logs if they do not.
    pub fn start(n: usize) -> Self {
        assert!(n > 0, "a cluster needs at least one node");
        let mut attempt = 1;
        loop {
            match Self::try_start(n) {
                Ok(cluster) => return cluster,
                Err(PortTaken(log)) if attempt < START_ATTEMPTS => {
                    attempt += 1;
                    eprintln!("nats cluster: a port was taken, retrying with new ones:\n{log}");
                }
                Err(PortTaken(log)) => panic!("nats cluster: ports kept being taken:\n{log}"),
            }
        }
    }

    fn try_start(n: usize) -> Result<Self, PortTaken> {
        let dir = std::env::temp_dir().join(format!(
            "aegis-nats-cluster-{}-{:016x}",
            std::process::id(),
            rand_suffix()
        ));
        let mut cluster = {
            let _picking = PICKING_PORTS.lock().unwrap_or_else(PoisonError::into_inner);
            let mut cluster = Self::create(dir, &free_ports(3 * n));
            (0..n).for_each(|i| cluster.spawn(i));
            for i in 0..n {
                // On error the cluster is dropped: processes killed, files removed.
                cluster.wait_listening(i)?;
            }
            cluster
        };
        cluster.wait_formed();
        Ok(cluster)
    }

    /// Nodes with their directories and configs written, none started.
    fn create(dir: PathBuf, ports: &[u16]) -> Self {
        let nodes: Vec<Node> = ports
            .chunks_exact(3)
            .enumerate()
            .map(|(i, p)| Node {
                name: format!("n{i}"),
                ports: Ports {
                    client: p[0],
                    route: p[1],
                    http: p[2],
                },
                dir: dir.join(format!("n{i}")),
                child: None,
                paused: false,
                starts: 0,
            })
            .collect();
        let cluster = NatsCluster { nodes, dir };
        for (i, node) in cluster.nodes.iter().enumerate() {
            fs::create_dir_all(&node.dir).expect("create node directory");
            fs::write(node.config_path(), cluster.config(i)).expect("write node config");
        }
        cluster
    }

    fn config(&self, i: usize) -> String {
        let node = &self.nodes[i];
        let routes: String = self
            .nodes
            .iter()
            .filter(|other| other.name != node.name)
            .map(|other| format!("    nats-route://127.0.0.1:{}\n", other.ports.route))
            .collect();
        // nats-server stores under `{store_dir}/jetstream`.
        let store = node.dir.display().to_string();
        format!(
            "server_name: {name}\n\
             listen: 127.0.0.1:{client}\n\
             http: 127.0.0.1:{http}\n\
             jetstream {{\n  store_dir: {store:?}\n}}\n\
             cluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{route}\n\
             \x20 # Clients use only the URLs a test gives them, never gossiped ones.\n\
             \x20 no_advertise: true\n  routes: [\n{routes}  ]\n}}\n",
            name = node.name,
            client = node.ports.client,
            http = node.ports.http,
            route = node.ports.route,
        )
    }

    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// `nats://127.0.0.1:{port}` of every node, comma-separated.
    pub fn urls(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `nats://127.0.0.1:{port}` of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].ports.client)
    }

    /// The server name of node `i` (`n{i}`).
    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// Node `i`'s JetStream store (`{account}/streams/{stream}`, ...); kept across `kill` and
    /// `restart`.
    pub fn store_dir(&self, i: usize) -> PathBuf {
        self.nodes[i].dir.join("jetstream")
    }

    /// Node `i`'s process id, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].child.as_ref().map(Child::id)
    }

    /// The log of node `i`'s latest start.
    pub fn log(&self, i: usize) -> String {
        fs::read_to_string(self.nodes[i].log_path()).unwrap_or_default()
    }

    /// Whether node `i`'s process is alive (paused counts as alive).
    pub fn is_running(&mut self, i: usize) -> bool {
        let node = &mut self.nodes[i];
        match node.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                node.child = None;
                node.paused = false;
                false
            }
            None => false,
        }
    }

    /// Whether node `i` is stopped by [`NatsCluster::pause`].
    pub fn is_paused(&self, i: usize) -> bool {
        self.nodes[i].paused
    }

    /// SIGKILLs node `i` (storage is kept); a no-op if it is not running.
    pub fn kill(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if let Some(mut child) = node.child.take() {
            // SIGKILL also ends a SIGSTOPped process.
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
    }

    /// Kills node `i` if it runs, starts it again with the same ports and storage, and waits
    /// until it reports healthy: in contact with the meta leader and current on its streams.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        let what = format!("{} healthy after restart", self.nodes[i].name);
        self.wait_for(&what, READY_TIMEOUT, |c| c.healthy(i).then_some(()));
    }

    /// Freezes node `i` with SIGSTOP: its sockets stay open but it answers nothing.
    pub fn pause(&mut self, i: usize) {
        assert!(
            self.is_running(i),
            "cannot pause {}: not running",
            self.name(i)
        );
        if !self.nodes[i].paused {
            self.signal(i, "STOP");
            self.nodes[i].paused = true;
        }
    }

    /// Lets a paused node `i` run again (SIGCONT).
    pub fn resume(&mut self, i: usize) {
        if self.nodes[i].paused {
            self.signal(i, "CONT");
            self.nodes[i].paused = false;
        }
    }

    /// `kill(1)`: the workspace forbids `unsafe`, so no `libc::kill`.
    fn signal(&self, i: usize, signal: &str) {
        let pid = self.pid(i).expect("a running node has a pid");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// The node that leads the JetStream meta group: the only running, unpaused node that says
    /// it is the leader. `None` while there is none or a stale one still claims it.
    pub fn meta_leader(&self) -> Option<usize> {
        self.sole_claimant(|i| self.meta_leader_seen_by(i))
    }

    /// Which node node `i` takes for the meta leader.
    pub fn meta_leader_seen_by(&self, i: usize) -> Option<usize> {
        let jsz = self.jsz(i, "")?;
        self.index_of(jsz.pointer("/meta_cluster/leader")?.as_str()?)
    }

    /// The node that leads stream `stream` (a KV bucket `b` is the stream `KV_b`), by the same
    /// rule as [`NatsCluster::meta_leader`].
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        self.sole_claimant(|i| self.stream_leader_seen_by(i, stream))
    }

    /// Which node node `i` takes for the leader of `stream`, if it holds a replica.
    pub fn stream_leader_seen_by(&self, i: usize, stream: &str) -> Option<usize> {
        let detail = self.stream_detail(i, stream)?;
        self.index_of(detail.pointer("/cluster/leader")?.as_str()?)
    }

    /// Node `i`'s `/jsz` entry for `stream` (`state`, `cluster`, ...), if it holds a replica.
    pub fn stream_detail(&self, i: usize, stream: &str) -> Option<Value> {
        let jsz = self.jsz(i, "?streams=true")?;
        jsz.get("account_details")?
            .as_array()?
            .iter()
            .filter_map(|account| account.get("stream_detail")?.as_array())
            .flatten()
            .find(|detail| detail.get("name").and_then(Value::as_str) == Some(stream))
            .cloned()
    }

    /// Node `i`'s `/jsz{query}`; `None` if it is down, paused or not answering.
    pub fn jsz(&self, i: usize, query: &str) -> Option<Value> {
        if !self.is_live(i) {
            return None;
        }
        let (status, body) = http_get(self.nodes[i].ports.http, &format!("/jsz{query}"))?;
        (status == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// Whether node `i` answers `/healthz` with 200: JetStream ready, the meta leader known and
    /// its stream replicas current.
    pub fn healthy(&self, i: usize) -> bool {
        self.is_live(i)
            && http_get(self.nodes[i].ports.http, "/healthz")
                .is_some_and(|(status, _)| status == 200)
    }

    /// Polls `check` until it returns `Some`, or panics after `within` with every node's log.
    /// Also panics at once if a node the harness started has exited.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        within: Duration,
        mut check: impl FnMut(&Self) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + within;
        loop {
            self.assert_none_exited(what);
            if let Some(found) = check(self) {
                return found;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {within:?} waiting for {what}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(POLL); // polling: servers notify nothing
        }
    }

    fn assert_none_exited(&mut self, what: &str) {
        for node in &mut self.nodes {
            let Some(child) = node.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                let log = fs::read_to_string(node.log_path()).unwrap_or_default();
                panic!(
                    "{} exited with {status} while waiting for {what}:\n{log}",
                    node.name
                );
            }
        }
    }

    fn wait_formed(&mut self) {
        let n = self.nodes.len();
        self.wait_for(
            "every node healthy, agreeing on a meta leader of the whole cluster",
            READY_TIMEOUT,
            |c| {
                let leader = c.meta_leader()?;
                (0..n)
                    .all(|i| {
                        c.healthy(i)
                            && c.meta_leader_seen_by(i) == Some(leader)
                            && c.meta_cluster_size(i) == Some(n)
                    })
                    .then_some(())
            },
        );
    }

    /// How many meta group peers node `i` knows of.
    fn meta_cluster_size(&self, i: usize) -> Option<usize> {
        let size = self
            .jsz(i, "")?
            .pointer("/meta_cluster/cluster_size")?
            .as_u64()?;
        usize::try_from(size).ok()
    }

    fn sole_claimant(&self, seen_by: impl Fn(usize) -> Option<usize>) -> Option<usize> {
        let mut claimants = (0..self.nodes.len()).filter(|&i| seen_by(i) == Some(i));
        let first = claimants.next()?;
        claimants.next().is_none().then_some(first)
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|node| node.name == name)
    }

    fn is_live(&self, i: usize) -> bool {
        let node = &self.nodes[i];
        node.child.is_some() && !node.paused
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.starts += 1;
        let child = spawn(
            Command::new(binary())
                .arg("-c")
                .arg(node.config_path())
                .arg("-l")
                .arg(node.log_path()),
        );
        node.child = Some(child);
        node.paused = false;
    }

    /// Waits until node `i` has bound its client and route ports; `PortTaken` if it exited
    /// because one was in use.
    fn wait_listening(&mut self, i: usize) -> Result<(), PortTaken> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let log = self.log(i);
            if log.contains("Server is ready") && log.contains("Listening for route connections") {
                return Ok(());
            }
            let child = self.nodes[i].child.as_mut().expect("spawned");
            if let Ok(Some(status)) = child.try_wait() {
                if log.contains("address already in use") {
                    return Err(PortTaken(log));
                }
                panic!("{} exited with {status}:\n{log}", self.nodes[i].name);
            }
            assert!(
                Instant::now() < deadline,
                "{} not listening after {READY_TIMEOUT:?}:\n{log}",
                self.nodes[i].name
            );
            std::thread::sleep(POLL); // polling the log file
        }
    }

    /// The last lines of every node's latest log, for failure messages.
    fn logs(&self) -> String {
        (0..self.nodes.len())
            .map(|i| {
                let log = self.log(i);
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(25)..].join("\n");
                format!("--- {} (pid {:?}) ---\n{tail}\n", self.name(i), self.pid(i))
            })
            .collect()
    }
}

impl Node {
    fn config_path(&self) -> PathBuf {
        self.dir.join(format!("{}.conf", self.name))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}-{}.log", self.name, self.starts))
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `count` distinct loopback ports that were free a moment ago: all bound at once, then
/// released for the servers to take.
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound address").port())
        .collect()
}

/// A minimal HTTP/1.0 GET on the loopback monitoring port: the status and the body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    parse_response(&response)
}

fn parse_response(response: &str) -> Option<(u16, String)> {
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_http_response() {
        let response =
            "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n\r\n{}";
        assert_eq!(parse_response(response), Some((503, "{}".to_owned())));
    }

    #[test]
    fn a_config_routes_to_every_other_node_on_loopback() {
        let dir = std::env::temp_dir().join(format!("aegis-cluster-config-{:016x}", rand_suffix()));
        let cluster = NatsCluster::create(dir, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let config = cluster.config(1);
        assert!(config.contains("server_name: n1\n"), "{config}");
        assert!(config.contains("listen: 127.0.0.1:4\n"), "{config}");
        assert!(config.contains("http: 127.0.0.1:6\n"), "{config}");
        assert!(config.contains("listen: 127.0.0.1:5\n"), "{config}");
        assert!(config.contains("nats-route://127.0.0.1:2\n"), "{config}");
        assert!(config.contains("nats-route://127.0.0.1:8\n"), "{config}");
        assert!(!config.contains("nats-route://127.0.0.1:5\n"), "{config}");
    }
}
