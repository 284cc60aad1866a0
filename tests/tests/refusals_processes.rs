//! `examples/echo_service` run as a process and refused by the server: it exits non-zero
//! within 5 s of being started, says why on stderr, never says it is ready, and shows no
//! password (neither the wrong one it was given nor the server's).

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use aegis_tests::nats_server::NatsServer;
use aegis_tests::pki::Pki;
use aegis_tests::process::example;

const PASSWORD: &str = "hunter2-s3cret";
const WRONG: &str = "wr0ng-s3cret";

/// How long the refused process may take to exit, from its start (what is being tested).
const EXIT_WITHIN: Duration = Duration::from_secs(5);

fn with_credentials(url: &str, userinfo: &str) -> String {
    url.replacen("nats://", &format!("nats://{userinfo}@"), 1)
}

/// What a finished process said.
struct Exited {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Exited {
    /// Both streams, for looking for what must not be shown.
    fn output(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

fn reader(stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut stream = stream;
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
}

/// Runs `echo_service` with only `vars` of the NATS and aegis settings (and no `RUST_LOG`:
/// the example's default log level), and waits for it to exit; panics if it has not within
/// [`EXIT_WITHIN`] of being started.
fn run_echo_service(vars: &[(&str, &str)]) -> Exited {
    let mut command = Command::new(example("echo_service"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("NATS_") || name.starts_with("AEGIS_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    let started = Instant::now();
    let mut child = command
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start echo_service");
    let stdout = reader(child.stdout.take().expect("piped stdout"));
    let stderr = reader(child.stderr.take().expect("piped stderr"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() >= EXIT_WITHIN {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "echo_service still running {EXIT_WITHIN:?} after it was started\nstdout:\n{}\nstderr:\n{}",
                stdout.join().unwrap_or_default(),
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10)); // polling the exit status
    };
    Exited {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Refused: a failure exit, the cause on stderr, never ready, no password shown.
fn assert_refused(exited: &Exited, cause: &str) {
    let output = exited.output();
    assert!(
        !exited.status.success(),
        "exited with {}: {output}",
        exited.status
    );
    assert!(exited.stderr.contains(cause), "names `{cause}`: {output}");
    assert!(!exited.stdout.contains("ready"), "said ready: {output}");
    for secret in [PASSWORD, WRONG] {
        assert!(!output.contains(secret), "shows a password: {output}");
    }
}

#[test]
fn a_wrong_password_ends_the_process() {
    let server = NatsServer::start_with_args(&["--user", "u", "--pass", PASSWORD]);
    let url = with_credentials(&server.url(), &format!("u:{WRONG}"));
    let exited = run_echo_service(&[("NATS_URL", &url)]);
    assert_refused(&exited, "authorization violation");
}

#[test]
fn an_unknown_user_ends_the_process() {
    let server = NatsServer::start_with_args(&["--user", "u", "--pass", PASSWORD]);
    let url = with_credentials(&server.url(), &format!("nobody:{PASSWORD}"));
    let exited = run_echo_service(&[("NATS_URL", &url)]);
    assert_refused(&exited, "authorization violation");
}

#[test]
fn an_untrusted_server_certificate_ends_the_process() {
    let pki = Pki::new();
    let server = pki.server(false, &["--user", "u", "--pass", PASSWORD]);
    let url = with_credentials(&server.url(), &format!("u:{PASSWORD}"));
    let ca = pki.other_ca.display().to_string();
    let exited = run_echo_service(&[("NATS_URL", &url), ("NATS_CA", &ca)]);
    assert_refused(&exited, "UnknownIssuer");
}

/// A server that is not up is waited for, not a refusal: the process keeps running, says so
/// on stderr at the default log level, and does not say it is ready.
#[test]
fn a_server_not_up_yet_is_waited_for_and_said_so() {
    // A loopback port nothing listens on: taken from the system, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("nats://u:{PASSWORD}@127.0.0.1:{port}");
    let mut child = Command::new(example("echo_service"))
        .env_remove("RUST_LOG")
        .env("NATS_URL", &url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start echo_service");
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let warning = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("not reachable yet") => break line,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!("no \"not reachable yet\" line on stderr within 15 s");
            }
        }
    };
    let still_running = child.try_wait().expect("try_wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    let stdout = reader(child.stdout.take().expect("piped stdout"))
        .join()
        .unwrap_or_default();
    assert!(still_running, "the process gave up: {warning}");
    assert!(
        !stdout.contains("ready"),
        "said ready while disconnected: {stdout}"
    );
    assert!(!warning.contains(PASSWORD), "shows the password: {warning}");
    assert!(
        warning.contains(&port.to_string()),
        "names the server: {warning}"
    );
}
