//! Command scenarios on the in-memory backend (the same ones run on NATS).

use std::sync::Arc;

use aegis::Backend;
use std::time::Duration;

use aegis::adapters::memory::{
    InMemoryMetrics, ManualClock, MemoryBus, MemoryKvBuckets, MemoryStreams,
};
use aegis_tests::commands;
use aegis_tests::commands::{Job, JobLog, JobsClient};

#[tokio::test]
async fn commands_are_shared_and_run_once() {
    commands::commands_are_shared_and_run_once(&Backend::in_memory(), 3, 300).await;
}

#[tokio::test]
async fn priority_orders_waiting_commands() {
    commands::priority_orders_waiting_commands(&Backend::in_memory()).await;
}

#[tokio::test]
async fn failing_commands_retry_then_dead_letter() {
    let metrics = Arc::new(InMemoryMetrics::new());
    let backend = Backend::in_memory().with_metrics(metrics.clone());
    commands::failing_commands_retry_then_dead_letter(&backend).await;
    // The flaky and the healthy command completed; the flaky one and the poison one were
    // retried twice each; the poison and the bad one failed.
    let outcome = |outcome| {
        [
            ("service", "jobs"),
            ("command", "work"),
            ("outcome", outcome),
        ]
    };
    let deliveries = "aegis_commands_deliveries_total";
    assert_eq!(metrics.counter(deliveries, &outcome("completed")), 2);
    assert_eq!(metrics.counter(deliveries, &outcome("retried")), 4);
    assert_eq!(metrics.counter(deliveries, &outcome("failed")), 2);
    assert_eq!(metrics.counter(deliveries, &outcome("cancelled")), 0);
    assert_eq!(
        metrics.counter_total(deliveries),
        2 + 4 + 2,
        "no other series"
    );
    let ran = metrics
        .summary(
            "aegis_commands_handler_duration_seconds",
            &[("service", "jobs"), ("command", "work")],
        )
        .expect("handler times");
    assert_eq!(ran.count, 2 + 4 + 2, "one duration per run");
}

#[tokio::test]
async fn command_timeouts_are_honoured() {
    commands::command_timeouts_are_honoured(&Backend::in_memory()).await;
}

#[tokio::test]
async fn cancel_reaches_the_handler() {
    commands::cancel_reaches_the_handler(&Backend::in_memory()).await;
}

#[tokio::test]
async fn progress_reaches_the_caller() {
    commands::progress_reaches_the_caller(&Backend::in_memory()).await;
}

#[tokio::test]
async fn an_outcome_that_does_not_fit_is_a_decode_error() {
    commands::an_outcome_that_does_not_fit_is_a_decode_error(&Backend::in_memory()).await;
}

/// A command delivered again while its handler still runs here (its keep-alive came too
/// late; the stream's clock is moved past `ack_wait` to force it) does not run twice.
#[tokio::test]
async fn a_command_redelivered_while_running_does_not_run_twice() {
    let clock = Arc::new(ManualClock::new());
    let metrics = Arc::new(InMemoryMetrics::new());
    let backend = Backend::from_parts(
        Arc::new(MemoryBus::new()),
        Arc::new(MemoryKvBuckets::new(clock.clone())),
        clock.clone(),
    )
    .with_streams(Arc::new(MemoryStreams::new(clock.clone())))
    .with_metrics(metrics.clone());
    let log = Arc::new(JobLog::default());
    let handle = commands::start_jobs(&backend, &log, commands::quick_commands()).await;
    let job = JobsClient::new(&backend)
        .work(Job {
            n: 7,
            block: true,
            ..Job::default()
        })
        .await
        .expect("sent");
    log.wait("the command to start", |l| l.started() == [7])
        .await;
    clock.advance(Duration::from_secs(60));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let redelivered = [("service", "jobs"), ("command", "work")];
    while metrics.counter(
        "aegis_commands_redelivered_while_running_total",
        &redelivered,
    ) == 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no redelivery reached the worker"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    log.gate.notify_one();
    let done = job.result().await.expect("completed");
    assert_eq!(done.attempt, 1);
    assert_eq!(
        log.started(),
        vec![7],
        "the redelivery ran the command again"
    );
    handle.stop().await.expect("stops");
}

#[tokio::test]
async fn python_shaped_commands_run() {
    commands::python_shaped_commands_run(&Backend::in_memory()).await;
}

/// An outcome is sent again until the caller's inbox exists.
#[tokio::test]
async fn an_outcome_waits_for_the_callers_inbox() {
    commands::an_outcome_waits_for_the_callers_inbox(&Backend::in_memory()).await;
}
