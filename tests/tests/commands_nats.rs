//! Command scenarios on NATS JetStream, each against its own nats-server.

use aegis_tests::commands;
use aegis_tests::nats_server::NatsServer;

#[tokio::test]
async fn commands_are_shared_and_run_once() {
    let server = NatsServer::start();
    commands::commands_are_shared_and_run_once(&server.backend().await, 3, 300).await;
}

#[tokio::test]
async fn priority_orders_waiting_commands() {
    let server = NatsServer::start();
    commands::priority_orders_waiting_commands(&server.backend().await).await;
}

#[tokio::test]
async fn failing_commands_retry_then_dead_letter() {
    let server = NatsServer::start();
    commands::failing_commands_retry_then_dead_letter(&server.backend().await).await;
}

#[tokio::test]
async fn command_timeouts_are_honoured() {
    let server = NatsServer::start();
    commands::command_timeouts_are_honoured(&server.backend().await).await;
}

#[tokio::test]
async fn cancel_reaches_the_handler() {
    let server = NatsServer::start();
    commands::cancel_reaches_the_handler(&server.backend().await).await;
}

#[tokio::test]
async fn progress_reaches_the_caller() {
    let server = NatsServer::start();
    commands::progress_reaches_the_caller(&server.backend().await).await;
}

#[tokio::test]
async fn an_outcome_that_does_not_fit_is_a_decode_error() {
    let server = NatsServer::start();
    commands::an_outcome_that_does_not_fit_is_a_decode_error(&server.backend().await).await;
}

#[tokio::test]
async fn python_shaped_commands_run() {
    let server = NatsServer::start();
    commands::python_shaped_commands_run(&server.backend().await).await;
}

/// An outcome is sent again until the caller's inbox exists.
#[tokio::test]
async fn an_outcome_waits_for_the_callers_inbox() {
    let server = NatsServer::start();
    commands::an_outcome_waits_for_the_callers_inbox(&server.backend().await).await;
}
