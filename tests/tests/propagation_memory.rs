//! Trace propagation scenarios on the in-memory backend (the same ones run on NATS).

use aegis::Backend;
use aegis_tests::propagation;

#[tokio::test]
async fn one_trace_across_calls_events_and_commands() {
    propagation::one_trace_across_calls_events_and_commands(&Backend::in_memory()).await;
}

#[tokio::test]
async fn clients_start_traces_and_raw_callers_are_continued() {
    propagation::clients_start_traces_and_raw_callers_are_continued(&Backend::in_memory()).await;
}
