//! Command scenarios on the in-memory backend (the same ones run on NATS).

use std::sync::Arc;

use aegis::Backend;
use aegis::adapters::memory::InMemoryMetrics;
use aegis_tests::commands;

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
    assert_eq!(metrics.counter("aegis.commands.completed"), 2);
    assert_eq!(metrics.counter("aegis.commands.retried"), 4);
    assert_eq!(metrics.counter("aegis.commands.failed"), 2);
    assert_eq!(metrics.counter("aegis.commands.cancelled"), 0);
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
