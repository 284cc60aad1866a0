//! Command scenarios on the in-memory backend (the same ones run on NATS).

use aegis::Backend;
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
    commands::failing_commands_retry_then_dead_letter(&Backend::in_memory()).await;
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
