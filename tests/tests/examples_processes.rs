//! The examples as a new user runs them: `--help` on each, a flag they do not know, and the
//! token-checking `echo_service` with `echo_client` against a real nats-server.

use std::process::{Command, Output, Stdio};

use aegis_tests::nats_server::NatsServer;
use aegis_tests::process::{Running, example};

const EXAMPLES: [&str; 8] = [
    "quickstart",
    "echo_service",
    "echo_client",
    "order_processor",
    "event_publisher",
    "event_subscriber",
    "command_worker",
    "command_sender",
];

/// Runs example `name` with `args` and no NATS or aegis settings but `vars`.
fn run(name: &str, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(example(name));
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy().into_owned();
        if var.starts_with("NATS_") || var.starts_with("AEGIS_") || var == "ECHO_TOKEN" {
            command.env_remove(var);
        }
    }
    command
        .args(args)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_example_answers_help_and_refuses_unknown_flags() {
    for name in EXAMPLES {
        let help = run(name, &["--help"], &[]);
        let stdout = text(&help.stdout);
        assert!(help.status.success(), "{name} --help: {help:?}");
        assert!(
            stdout.contains(&format!("Usage: {name}")),
            "{name}: {stdout}"
        );
        if name != "quickstart" {
            assert!(stdout.contains("--server <URL>"), "{name}: {stdout}");
        }

        let unknown = run(name, &["--no-such-flag"], &[]);
        let stderr = text(&unknown.stderr);
        assert_eq!(unknown.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("'--no-such-flag'"), "{name}: {stderr}");
    }
}

#[test]
fn help_does_not_show_the_url_or_the_token() {
    let vars = [
        ("NATS_URL", "nats://alice:hunter2@127.0.0.1:1"),
        ("ECHO_TOKEN", "s3cret-token"),
    ];
    for name in ["echo_service", "echo_client"] {
        let help = run(name, &["--help"], &vars);
        let stdout = text(&help.stdout);
        assert!(help.status.success(), "{name}: {help:?}");
        assert!(!stdout.contains("hunter2"), "{name}: {stdout}");
        assert!(!stdout.contains("s3cret-token"), "{name}: {stdout}");
    }
}

#[test]
fn echo_service_with_a_token_refuses_clients_without_it() {
    let server = NatsServer::start();
    let url = server.url();
    let (_service, ready) = Running::start("echo_service", &url, &["--token", "s3cret"]);
    assert!(ready.contains("ready"), "{ready}");

    let anonymous = run("echo_client", &["hi"], &[("NATS_URL", &url)]);
    let stderr = text(&anonymous.stderr);
    assert!(!anonymous.status.success(), "{anonymous:?}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(stderr.contains("authorization: Bearer"), "{stderr}");

    let wrong = run(
        "echo_client",
        &["--token", "guess", "hi"],
        &[("NATS_URL", &url)],
    );
    assert!(!wrong.status.success(), "{wrong:?}");

    // The token from the environment, the server from the flag.
    let vars = [("ECHO_TOKEN", "s3cret")];
    let authorized = run("echo_client", &["--server", &url, "hi"], &vars);
    let stdout = text(&authorized.stdout);
    assert!(authorized.status.success(), "{authorized:?}");
    assert!(stdout.contains("echo: \"hi\""), "{stdout}");
}
