//! A real nats-server per test: loopback only, a port the server picks itself, its own
//! temporary JetStream storage, killed when dropped.
//!
//! The binary is `$NATS_SERVER_BIN`, else `.tools/nats-server/bin/nats-server` (installed by
//! `scripts/test.sh`), else `nats-server` on `PATH`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running nats-server with JetStream.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    starts: u32,
    /// Given to every start after the harness's own (authorization, say).
    extra_args: Vec<String>,
}

pub(crate) fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/nats-server/bin/nats-server");
    if local.exists() {
        return local;
    }
    PathBuf::from("nats-server")
}

impl NatsServer {
    /// Starts a server on a free loopback port; panics with the server's log if it does not
    /// come up.
    pub fn start() -> Self {
        Self::start_with_args(&[])
    }

    /// Starts a server as [`NatsServer::start`] does, with `args` added to its command line
    /// (e.g. `["--user", "u", "--pass", "p"]`).
    pub fn start_with_args(args: &[&str]) -> Self {
        Self::start_in_new_dir(None, args)
    }

    /// Starts a server as [`NatsServer::start`] does, with the configuration file `config`
    /// (written into the server's directory, given with `-c`). The harness's own arguments
    /// (address, port, JetStream and its storage, log) override the file's.
    pub fn start_with_config(config: &str) -> Self {
        Self::start_in_new_dir(Some(config), &[])
    }

    fn start_in_new_dir(config: Option<&str>, args: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "aegis-nats-{}-{:016x}",
            std::process::id(),
            rand_suffix()
        ));
        fs::create_dir_all(dir.join("jetstream")).expect("create server directory");
        let mut extra_args = Vec::new();
        if let Some(config) = config {
            let path = dir.join("server.conf");
            fs::write(&path, config).expect("write server configuration");
            extra_args.push(String::from("-c"));
            extra_args.push(path.display().to_string());
        }
        extra_args.extend(args.iter().map(|a| (*a).to_owned()));
        let mut server = NatsServer {
            child: None,
            port: 0,
            dir,
            starts: 0,
            extra_args,
        };
        server.launch(None);
        server
    }

    /// `nats://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// A backend connected to this server (no retry of the first connect: the server runs).
    pub async fn backend(&self) -> aegis::Backend {
        aegis::adapters::nats::NatsOptions::new(self.url())
            .retry_initial_connect(false)
            .connect()
            .await
            .expect("connects to the test server")
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (storage is kept).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Everything the server has logged, over all its starts.
    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|start| {
                fs::read_to_string(self.dir.join(format!("server-{start}.log"))).unwrap_or_default()
            })
            .collect()
    }

    /// Starts the server again on the same port with the same storage.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        self.launch(Some(port));
    }

    fn launch(&mut self, port: Option<u16>) {
        self.starts += 1;
        let log = self.dir.join(format!("server-{}.log", self.starts));
        let port_arg = port.map_or_else(|| String::from("-1"), |p| p.to_string());
        let child = spawn(
            Command::new(binary())
                .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
                .arg(self.dir.join("jetstream"))
                .arg("-l")
                .arg(&log)
                .args(&self.extra_args),
        );
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let text = fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Server is ready") {
                self.port = listening_port(&text)
                    .unwrap_or_else(|| panic!("no client port in log:\n{text}"));
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("nats-server exited with {status}:\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "nats-server not ready after {READY_TIMEOUT:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(10)); // polling the log file
        }
    }
}

/// The port in "Listening for client connections on 127.0.0.1:PORT".
fn listening_port(log: &str) -> Option<u16> {
    log.lines()
        .rev()
        .filter_map(|line| line.split("Listening for client connections on ").nth(1))
        .find_map(|addr| addr.trim().rsplit(':').next()?.parse().ok())
}

/// Starts the nats-server `command` describes, its output going nowhere (it logs to a file).
pub(crate) fn spawn(command: &mut Command) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start nats-server ({}): {e}; run scripts/test.sh, which installs it, \
                 or set NATS_SERVER_BIN",
                binary().display()
            )
        })
}

pub(crate) fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_from_the_log() {
        let log = "[1] [INF] Listening for client connections on 127.0.0.1:41234\n[1] [INF] Server is ready";
        assert_eq!(listening_port(log), Some(41234));
    }
}
