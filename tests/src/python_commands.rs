//! Commands across languages, run on every backend (`tests/python_commands.rs`): a Python
//! AegisSDK caller (no `Aegis-Reply-To`; listens on `commands.progress.{id}` and
//! `commands.callback.{id}`) and a Python worker (reports there), both played from
//! captured message shapes, so no Python is needed.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aegis::Backend;
use aegis::commands::CommandUpdate;
use aegis::ports::{Message, Subscription};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::commands::{Done, Job, JobLog, JobsClient, quick_commands, start_jobs};
use crate::events::DEADLINE;

/// A command as the Python SDK's `send_command` publishes it (msgpack, no headers).
fn python_command(id: &str, payload: Value) -> Message {
    let command = json!({
        "message_id": id,
        "trace_id": "8b5e0c2e-7a0e-4b8e-a3f5-0d2b7e1c9a33",
        "correlation_id": null,
        "timestamp": "2026-12-02T21:47:15.000001+00:00",
        "source": "py-client-1a2b3c4d",
        "target": "jobs",
        "command": "work",
        "payload": payload,
        "priority": "normal",
        "max_retries": 0,
        "timeout": 300.0,
    });
    Message::new(
        "commands.jobs.work",
        rmp_serde::to_vec_named(&command).unwrap(),
    )
}

fn job(n: u64, steps: u32, bad: bool) -> Value {
    json!({"n": n, "fail_times": 0, "bad": bad, "sleep_ms": 0, "block": false, "steps": steps})
}

async fn next_map(subscription: &mut Subscription, what: &str) -> serde_json::Map<String, Value> {
    let message = tokio::time::timeout(DEADLINE, subscription.next())
        .await
        .unwrap_or_else(|_| panic!("no {what} within {DEADLINE:?}"))
        .unwrap_or_else(|| panic!("the subscription ended before the {what}"));
    assert!(
        message.headers.get("Aegis-Reply-To").is_none(),
        "{what} carries an Aegis header"
    );
    // The SDK answers in the format of the command (msgpack here).
    match rmp_serde::from_slice(&message.payload) {
        Ok(Value::Object(map)) => map,
        other => panic!("{what} is not a msgpack map: {other:?}"),
    }
}

fn keys(map: &serde_json::Map<String, Value>) -> BTreeSet<&str> {
    map.keys().map(String::as_str).collect()
}

/// Waits until `COMMANDS` holds `expected` messages.
pub async fn wait_for_commands_len(backend: &Backend, expected: u64, what: &str) {
    let streams = backend.streams().unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let len = streams.stream_len("COMMANDS").await.unwrap();
        if len == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: COMMANDS holds {len} messages, not {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // polling interval
    }
}

/// A Python caller's command, run by a Rust worker: progress on `commands.progress.{id}`
/// and the outcome on `commands.callback.{id}`, exactly in the SDK's shapes; a failure too
/// (the SDK has no failure message: the caller sees the status). `COMMANDS`, which captures
/// both subjects, is left empty.
pub async fn python_callers_hear_rust_workers(backend: &Backend) {
    let log = Arc::new(JobLog::default());
    let handle = start_jobs(backend, &log, quick_commands()).await;
    let bus = backend.bus();
    let streams = backend.streams().unwrap();

    let id = "5f0c8a52-3c1e-4a57-9d1e-2b8f1f0f4a11";
    let mut progress = bus
        .subscribe(&format!("commands.progress.{id}"), None)
        .await
        .unwrap();
    let mut callback = bus
        .subscribe(&format!("commands.callback.{id}"), None)
        .await
        .unwrap();
    let command = python_command(id, job(42, 2, false));
    streams.publish(command).await.unwrap().await.unwrap();
    for percent in [50.0, 100.0] {
        let report = next_map(&mut progress, "progress").await;
        assert_eq!(
            keys(&report),
            BTreeSet::from(["command_id", "progress", "status", "timestamp"]),
            "{report:?}"
        );
        assert_eq!(report["command_id"], id);
        assert_eq!(report["status"], "processing");
        assert_eq!(report["progress"].as_f64(), Some(percent));
        assert!(report["timestamp"].as_f64().unwrap() > 1.7e9);
    }
    let outcome = next_map(&mut callback, "outcome").await;
    assert_eq!(
        keys(&outcome),
        BTreeSet::from(["command_id", "result", "status"]),
        "{outcome:?}"
    );
    assert_eq!(outcome["command_id"], id);
    assert_eq!(outcome["status"], "completed");
    let done: Done = serde_json::from_value(outcome["result"].clone()).unwrap();
    assert_eq!((done.n, done.attempt), (42, 1));

    let failing = "0d7e3c8a-6a43-4c1c-9f0e-6f1a3b2c4d5e";
    let mut callback = bus
        .subscribe(&format!("commands.callback.{failing}"), None)
        .await
        .unwrap();
    let command = python_command(failing, job(43, 0, true));
    streams.publish(command).await.unwrap().await.unwrap();
    let failure = next_map(&mut callback, "failure").await;
    assert_eq!(failure["status"], "failed", "{failure:?}");
    assert_eq!(failure["code"], 400);
    assert!(
        failure["error"].as_str().unwrap().contains("job 43 is bad"),
        "{failure:?}"
    );
    wait_for_commands_len(backend, 0, "after both outcomes").await;
    handle.stop().await.unwrap();
}

/// A Rust caller's command, run by a Python worker (played here): its progress (an integer
/// percentage, as Python may send) and its result reach the `CommandHandle`; the reports
/// the Python worker left in `COMMANDS` are purged after the outcome.
pub async fn rust_callers_hear_python_workers(backend: &Backend) {
    let client = JobsClient::new(backend);
    let mut handle = client
        .work(Job {
            n: 7,
            ..Job::default()
        })
        .await
        .unwrap();
    let id = handle.id().to_owned();
    wait_for_commands_len(backend, 1, "the command waits for a worker").await;

    // The Python worker publishes on core NATS; `COMMANDS` captures it.
    let bus = backend.bus();
    let report = json!({"command_id": id, "progress": 50, "status": "processing", "timestamp": 1_764_712_035.5});
    let subject = format!("commands.progress.{id}");
    bus.publish(Message::new(
        subject,
        rmp_serde::to_vec_named(&report).unwrap(),
    ))
    .await
    .unwrap();
    match tokio::time::timeout(DEADLINE, handle.next()).await.unwrap() {
        Some(CommandUpdate::Progress(progress)) => assert_eq!(progress.percent, 50.0),
        other => panic!("expected progress, got {other:?}"),
    }
    let outcome = json!({"command_id": id, "status": "completed", "result": {"n": 7, "attempt": 1, "by": "py-worker"}});
    let subject = format!("commands.callback.{id}");
    bus.publish(Message::new(
        subject,
        rmp_serde::to_vec_named(&outcome).unwrap(),
    ))
    .await
    .unwrap();
    match tokio::time::timeout(DEADLINE, handle.next()).await.unwrap() {
        Some(CommandUpdate::Finished(Ok(done))) => assert_eq!(
            done,
            Done {
                n: 7,
                attempt: 1,
                by: "py-worker".into()
            }
        ),
        other => panic!("expected the outcome, got {other:?}"),
    }
    // Only the command itself is left (no worker took it).
    wait_for_commands_len(backend, 1, "after the Python worker's outcome").await;
}
