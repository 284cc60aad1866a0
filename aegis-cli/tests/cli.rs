//! `aegis` against a real nats-server and real service processes (`echo_service`,
//! `order_processor`, `event_subscriber`), as an operator runs it.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aegis_tests::nats_server::NatsServer;
use aegis_tests::process::Running;
use serde_json::Value;

/// How long anything the tests wait for may take on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(30);

/// `aegis` with `args`, against `url`, with no other NATS or aegis settings.
fn command(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aegis"));
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy().into_owned();
        if var.starts_with("NATS_") || var.starts_with("AEGIS_") {
            command.env_remove(var);
        }
    }
    command.args(args).env("NATS_URL", url).stdin(Stdio::null());
    command
}

fn aegis(url: &str, args: &[&str]) -> Output {
    command(url, args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `aegis args` until it succeeds and `done` holds for its JSON stdout; panics after
/// [`DEADLINE`] with the last output.
fn until(url: &str, args: &[&str], done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let output = aegis(url, args);
        if output.status.success() {
            let value: Value = serde_json::from_slice(&output.stdout).unwrap();
            if done(&value) {
                return value;
            }
        }
        assert!(
            Instant::now() < deadline,
            "`aegis {}` never gave what was expected; last: {output:?}",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(100)); // polling with a deadline
    }
}

/// A running `aegis` whose stdout and stderr lines arrive on channels.
struct Streaming {
    child: Child,
    lines: mpsc::Receiver<String>,
    errors: mpsc::Receiver<String>,
}

fn forward(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

impl Streaming {
    fn start(url: &str, args: &[&str]) -> Self {
        Self::spawn(command(url, args))
    }

    /// Example `name`, with `args`, against `url`.
    fn example(name: &str, url: &str, args: &[&str]) -> Self {
        let mut command = Command::new(aegis_tests::process::example(name));
        command.args(args).env("NATS_URL", url).stdin(Stdio::null());
        Self::spawn(command)
    }

    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = forward(child.stdout.take().unwrap());
        let errors = forward(child.stderr.take().unwrap());
        Streaming {
            child,
            lines,
            errors,
        }
    }

    /// The next line of stdout, as JSON.
    fn next(&self) -> Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("`{line}`: {e}"))
    }

    /// The next line of stdout.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(DEADLINE)
            .expect("a line within the deadline")
    }

    /// Waits for a line of stdout that contains `text`.
    fn wait_stdout(&self, text: &str) {
        while !self.line().contains(text) {}
    }

    /// Waits for a line of stderr that contains `text`.
    fn wait_stderr(&self, text: &str) {
        loop {
            let line = self
                .errors
                .recv_timeout(DEADLINE)
                .unwrap_or_else(|_| panic!("no `{text}` on stderr within the deadline"));
            if line.contains(text) {
                return;
            }
        }
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn help_is_there_for_every_command() {
    let commands: [&[&str]; 12] = [
        &[],
        &["ls"],
        &["info"],
        &["call"],
        &["leader"],
        &["events", "tail"],
        &["events", "publish"],
        &["commands", "send"],
        &["dlq", "ls"],
        &["dlq", "show"],
        &["dlq", "replay"],
        &["dlq", "purge"],
    ];
    for words in commands {
        let mut args = words.to_vec();
        args.push("--help");
        let output = aegis("nats://127.0.0.1:1", &args);
        let stdout = text(&output.stdout);
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert!(stdout.contains("Usage: aegis"), "{args:?}: {stdout}");
    }
    let unknown = aegis("nats://127.0.0.1:1", &["no-such-command"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
}

#[test]
fn ls_info_and_call_against_running_services() {
    let server = NatsServer::start();
    let url = server.url();
    let (_echo, _) = Running::start("echo_service", &url, &[]);
    let (_orders, _) = Running::start("order_processor", &url, &["--instance-id", "op-1"]);

    let listed = until(&url, &["ls", "--json"], |v| {
        v.as_array().unwrap().len() == 2
    });
    let echo = &listed[0];
    assert_eq!(echo["service"], "echo-service");
    assert_eq!(echo["status"], "ACTIVE");
    assert_eq!(
        (echo["srv"].as_bool(), echo["alive"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(echo["runtime"], "rust");
    let orders = &listed[1];
    assert_eq!(
        (&orders["service"], &orders["instance"], &orders["group"]),
        (
            &Value::from("order-processor"),
            &Value::from("op-1"),
            &Value::from("default")
        )
    );
    let only_orders = until(&url, &["ls", "order-processor", "--json"], |_| true);
    assert_eq!(only_orders.as_array().unwrap().len(), 1, "{only_orders}");

    let call = aegis(&url, &["call", "echo-service.echo", r#"{"message":"hi"}"#]);
    assert!(call.status.success(), "{call:?}");
    let stdout = text(&call.stdout);
    assert!(stdout.contains(r#""echo": "hi""#), "{stdout}");
    let json_codec = aegis(
        &url,
        &[
            "call",
            "echo-service.echo",
            r#"{"message":"j"}"#,
            "--codec",
            "json",
        ],
    );
    let reply: Value = serde_json::from_slice(&json_codec.stdout).unwrap();
    assert_eq!(reply["echo"], "j", "{json_codec:?}");
    let pinned = aegis(
        &url,
        &["call", "order-processor.health_check", "--instance", "op-1"],
    );
    assert!(pinned.status.success(), "{pinned:?}");
    let elsewhere = aegis(
        &url,
        &["call", "order-processor.health_check", "--instance", "op-9"],
    );
    assert_eq!(elsewhere.status.code(), Some(1), "{elsewhere:?}");

    let started = Instant::now();
    let missing = aegis(&url, &["call", "echo-service.no_such_method", "{}"]);
    let took = started.elapsed();
    let stderr = text(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(stderr.contains("no_such_method"), "{stderr}");
    let bad = aegis(&url, &["call", "echo-service.echo", r#"{"nope":1}"#]);
    let stderr = text(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(stderr.contains("error: 400"), "{stderr}");

    let info = aegis(&url, &["info", "echo-service", "--json"]);
    assert!(info.status.success(), "{info:?}");
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    let endpoints = info["info"][0]["endpoints"].as_array().unwrap();
    let names: Vec<&str> = endpoints
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"echo"), "{info}");
    let requests: u64 = info["stats"][0]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "echo")
        .map(|e| e["num_requests"].as_u64().unwrap())
        .sum();
    assert!(requests >= 3, "{info}");
    let echo = endpoints.iter().find(|e| e["name"] == "echo").unwrap();
    assert_eq!(echo["metadata"]["aegis.request"], "EchoRequest", "{echo}");
    assert_eq!(echo["metadata"]["aegis.response"], "EchoReply", "{echo}");
    let table = text(&aegis(&url, &["info", "echo-service"]).stdout);
    let row = table
        .lines()
        .find(|line| line.starts_with("echo "))
        .unwrap_or_else(|| panic!("{table}"));
    for cell in ["rpc", "rpc.echo-service.echo", "EchoRequest", "EchoReply"] {
        assert!(row.split_whitespace().any(|c| c == cell), "{cell}: {row}");
    }
}

#[test]
fn leader_names_the_active_instance_and_follows_a_failover() {
    let server = NatsServer::start();
    let url = server.url();
    let ttl = ["--leader-ttl-ms", "2000"];
    let mut processes: Vec<(&str, Running)> = ["op-a", "op-b"]
        .into_iter()
        .map(|id| {
            let args = [&["--instance-id", id][..], &ttl].concat();
            (id, Running::start("order_processor", &url, &args).0)
        })
        .collect();
    let leaders = until(&url, &["leader", "order-processor", "--json"], |v| {
        v.as_array().is_some_and(|l| l.len() == 1)
    });
    let leader = &leaders[0];
    assert_eq!(leader["group"], "default");
    let active = leader["instance_id"].as_str().unwrap().to_owned();
    let token = leader["token"].as_u64().unwrap();
    // The registry agrees (its entry follows the election within a heartbeat).
    until(&url, &["ls", "order-processor", "--json"], |v| {
        v.as_array()
            .unwrap()
            .iter()
            .any(|i| i["instance"] == active.as_str() && i["status"] == "ACTIVE")
    });
    let at = processes.iter().position(|(id, _)| *id == active).unwrap();
    let (_, leading) = processes.remove(at);
    let (standby, _) = &processes[0];

    let watch = Streaming::start(&url, &["leader", "order-processor", "--watch", "--json"]);
    assert_eq!(watch.next()["instance_id"], active.as_str());
    leading.signal("KILL");
    let successor = loop {
        let change = watch.next();
        if !change["instance_id"].is_null() {
            break change;
        }
    };
    assert_eq!(successor["instance_id"], *standby);
    assert!(successor["token"].as_u64().unwrap() > token, "{successor}");

    let none = aegis(&url, &["leader", "echo-service"]);
    assert_eq!(none.status.code(), Some(1), "{none:?}");
}

#[test]
fn events_publish_reaches_tail_and_commands_send_prints_the_result() {
    let server = NatsServer::start();
    let url = server.url();
    let tail = Streaming::start(&url, &["events", "tail", "orders.*", "--json"]);
    tail.wait_stderr("tailing events.orders.*");
    let published = aegis(
        &url,
        &[
            "events",
            "publish",
            "orders.placed",
            r#"{"order_id":7,"total_cents":100}"#,
            "--json",
        ],
    );
    assert!(published.status.success(), "{published:?}");
    let ack: Value = serde_json::from_slice(&published.stdout).unwrap();
    assert_eq!(
        (&ack["stream"], &ack["subject"], &ack["sequence"]),
        (
            &Value::from("EVENTS"),
            &Value::from("events.orders.placed"),
            &Value::from(1)
        )
    );
    let seen = tail.next();
    assert_eq!(seen["subject"], "events.orders.placed");
    assert_eq!(seen["event"]["payload"]["order_id"], 7, "{seen}");
    assert_eq!(seen["event"]["source"], "aegis-cli", "{seen}");

    let (_worker, _) = Running::start("command_worker", &url, &[]);
    let sent = aegis(
        &url,
        &[
            "commands",
            "send",
            "report-builder.build",
            r#"{"name":"q","sections":3,"section_millis":10}"#,
        ],
    );
    assert!(sent.status.success(), "{sent:?}");
    let result: Value = serde_json::from_slice(&sent.stdout).unwrap();
    assert_eq!(
        (&result["name"], &result["sections"]),
        (&Value::from("q"), &Value::from(3))
    );
    let info = text(&aegis(&url, &["info", "report-builder"]).stdout);
    let command = info
        .lines()
        .find(|line| line.starts_with("build "))
        .unwrap_or_else(|| panic!("{info}"));
    assert!(command.contains("commands.report-builder.build"), "{info}");
}

#[test]
fn a_poison_event_is_listed_shown_and_replayed_once_the_fix_is_deployed() {
    let server = NatsServer::start();
    let url = server.url();
    let empty = aegis(&url, &["dlq", "ls", "--json"]);
    assert!(empty.status.success(), "{empty:?}");
    assert_eq!(
        serde_json::from_slice::<Value>(&empty.stdout).unwrap(),
        Value::Array(vec![])
    );

    // This release refuses free orders: a bad request, dead-lettered at once.
    let notifier = Streaming::example("event_subscriber", &url, &["--instance-id", "n-1"]);
    notifier.wait_stdout("notifier ready");
    let free = r#"{"order_id":13,"total_cents":0}"#;
    let published = aegis(&url, &["events", "publish", "orders.placed", free]);
    assert!(published.status.success(), "{published:?}");
    let letters = until(&url, &["dlq", "ls", "notifier", "--json"], |v| {
        !v.as_array().unwrap().is_empty()
    });
    let letter = &letters[0];
    assert_eq!(letter["service"], "notifier", "{letter}");
    assert_eq!(letter["subject"], "events.orders.placed", "{letter}");
    assert_eq!(letter["code"], 400, "{letter}");
    assert!(
        letter["reason"].as_str().unwrap().contains("free"),
        "{letter}"
    );
    let sequence = letter["sequence"].as_u64().unwrap().to_string();
    let others = aegis(&url, &["dlq", "ls", "echo-service", "--json"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&others.stdout).unwrap(),
        Value::Array(vec![])
    );

    let shown = aegis(&url, &["dlq", "show", &sequence, "--json"]);
    assert!(shown.status.success(), "{shown:?}");
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["decoded"]["payload"]["order_id"], 13, "{shown}");
    let table = aegis(&url, &["dlq", "ls"]);
    assert!(
        text(&table.stdout).contains("an order cannot be free"),
        "{table:?}"
    );

    // The fix: a release that accepts free orders; then the replay.
    drop(notifier);
    let fixed = Streaming::example(
        "event_subscriber",
        &url,
        &["--instance-id", "n-2", "--accept-free-orders"],
    );
    fixed.wait_stdout("notifier ready");
    let replayed = aegis(&url, &["dlq", "replay", &sequence, "--json"]);
    assert!(replayed.status.success(), "{replayed:?}");
    let replayed: Value = serde_json::from_slice(&replayed.stdout).unwrap();
    assert_eq!(
        replayed[0]["replayed"]["subject"], "events.orders.placed",
        "{replayed}"
    );
    fixed.wait_stdout("confirm order 13 (0 cents)");
    let after = aegis(&url, &["dlq", "ls", "--json"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&after.stdout).unwrap(),
        Value::Array(vec![])
    );

    let again = aegis(&url, &["dlq", "replay", &sequence]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(text(&again.stderr).contains(&sequence), "{again:?}");
    let missing = aegis(&url, &["dlq", "purge", &sequence]);
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
}
