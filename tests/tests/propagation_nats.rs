//! Trace propagation scenarios on NATS, each against its own nats-server.

use aegis_tests::nats_server::NatsServer;
use aegis_tests::propagation;

#[tokio::test]
async fn one_trace_across_calls_events_and_commands() {
    let server = NatsServer::start();
    propagation::one_trace_across_calls_events_and_commands(&server.backend().await).await;
}

#[tokio::test]
async fn clients_start_traces_and_raw_callers_are_continued() {
    let server = NatsServer::start();
    propagation::clients_start_traces_and_raw_callers_are_continued(&server.backend().await).await;
}
