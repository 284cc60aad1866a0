//! Commands with real worker processes: a worker SIGKILLed in the middle of a command; the
//! command completes on the other worker, and the caller receives exactly one result.

use std::time::Duration;

use aegis::adapters::nats::NatsOptions;
use aegis::commands::CommandUpdate;
use aegis_examples::reports::{BuildReport, ReportBuilderClient};
use aegis_tests::nats_server::NatsServer;
use aegis_tests::process::Running;
use futures::StreamExt;

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_command_whose_worker_is_killed_completes_on_another_worker_once() {
    let server = NatsServer::start();
    let backend = NatsOptions::new(server.url())
        .connect()
        .await
        .expect("connects");
    let args = |id| ["--instance-id", id, "--ack-wait-ms", "1000"];
    let (a, ready) = Running::start("command_worker", &server.url(), &args("worker-a"));
    assert!(ready.contains("ready"), "{ready}");
    let (b, ready) = Running::start("command_worker", &server.url(), &args("worker-b"));
    assert!(ready.contains("ready"), "{ready}");

    let client = ReportBuilderClient::new(&backend);
    let mut handle = client
        .build(BuildReport {
            name: String::from("kill-test"),
            sections: 30,
            section_millis: 100,
        })
        .await
        .expect("sent");
    // Every message to the caller, counted independently of the handle.
    let mut replies = backend
        .bus()
        .subscribe(&format!("_INBOX.aegis.{}", handle.id()), None)
        .await
        .expect("subscribed");

    let first = match tokio::time::timeout(DEADLINE, handle.next())
        .await
        .expect("progress")
    {
        Some(CommandUpdate::Progress(progress)) => progress.message,
        other => panic!("expected progress first, got {other:?}"),
    };
    let (victim, survivor, survivor_id) = if first.ends_with("worker-a") {
        (a, b, "worker-b")
    } else {
        assert!(first.ends_with("worker-b"), "{first}");
        (b, a, "worker-a")
    };
    victim.signal("KILL");

    let report = tokio::time::timeout(DEADLINE, handle.result())
        .await
        .expect("an outcome in time")
        .expect("the command completes");
    assert_eq!(report.built_by, survivor_id);
    assert_eq!(report.attempt, 2, "the second delivery ran it");
    assert_eq!(report.sections, 30);

    // Count completions: exactly one, even after more than an ack_wait of quiet.
    let mut completions = 0;
    let quiet = tokio::time::sleep(Duration::from_secs(3));
    tokio::pin!(quiet);
    loop {
        tokio::select! {
            _ = &mut quiet => break,
            Some(message) = replies.next() => {
                let value: serde_json::Value = aegis::Codec::detect(&message.payload)
                    .decode(&message.payload)
                    .expect("a reply map");
                if value["status"] != "processing" {
                    assert_eq!(value["status"], "completed");
                    completions += 1;
                }
            }
        }
    }
    assert_eq!(completions, 1, "the caller got more than one outcome");
    survivor.signal("TERM");
}
