//! RPC scenarios on the in-memory backend (the same ones run on NATS).

use aegis::Backend;
use aegis_tests::rpc;

#[tokio::test]
async fn round_trips_in_msgpack_and_json() {
    rpc::round_trips_in_msgpack_and_json(&Backend::in_memory()).await;
}

#[tokio::test]
async fn python_shaped_requests_get_python_shaped_replies() {
    rpc::python_shaped_requests_get_python_shaped_replies(&Backend::in_memory()).await;
}

#[tokio::test]
async fn our_client_decodes_python_shaped_replies() {
    rpc::our_client_decodes_python_shaped_replies(&Backend::in_memory()).await;
}

#[tokio::test]
async fn undecodable_replies_are_decode_errors() {
    rpc::undecodable_replies_are_decode_errors(&Backend::in_memory()).await;
}

#[tokio::test]
async fn malformed_requests_get_an_error_reply_not_a_timeout() {
    rpc::malformed_requests_get_an_error_reply_not_a_timeout(&Backend::in_memory()).await;
}

#[tokio::test]
async fn handler_errors_carry_code_and_message() {
    rpc::handler_errors_carry_code_and_message(&Backend::in_memory()).await;
}

#[tokio::test]
async fn anyhow_errors_are_500s_with_their_whole_chain() {
    rpc::anyhow_errors_are_500s_with_their_whole_chain(&Backend::in_memory()).await;
}

#[tokio::test]
async fn a_panicking_handler_gets_an_error_reply_and_the_service_keeps_serving() {
    rpc::a_panicking_handler_gets_an_error_reply_and_the_service_keeps_serving(
        &Backend::in_memory(),
    )
    .await;
}

#[tokio::test]
async fn handlers_past_their_deadline_get_a_timeout_reply() {
    rpc::handlers_past_their_deadline_get_a_timeout_reply(&Backend::in_memory()).await;
}

#[tokio::test]
async fn the_callers_timeout_bounds_the_call() {
    rpc::the_callers_timeout_bounds_the_call(&Backend::in_memory()).await;
}

#[tokio::test]
async fn traceparent_reaches_the_handler() {
    rpc::traceparent_reaches_the_handler(&Backend::in_memory()).await;
}

#[tokio::test]
async fn a_stopped_service_no_longer_answers() {
    rpc::a_stopped_service_no_longer_answers(&Backend::in_memory()).await;
}

#[tokio::test]
async fn graceful_stop_finishes_in_flight_calls_and_refuses_new_ones() {
    rpc::graceful_stop_finishes_in_flight_calls_and_refuses_new_ones(&Backend::in_memory()).await;
}

#[tokio::test]
async fn drain_is_bounded() {
    rpc::drain_is_bounded(&Backend::in_memory()).await;
}

#[tokio::test]
async fn lifecycle_hooks_run_in_order_and_failures_are_reported() {
    rpc::lifecycle_hooks_run_in_order_and_failures_are_reported(&Backend::in_memory()).await;
}

#[tokio::test]
async fn queue_group_spreads_calls_over_instances() {
    rpc::queue_group_spreads_calls_over_instances(&Backend::in_memory()).await;
}

#[tokio::test]
async fn nats_micro_ping_info_and_stats() {
    rpc::nats_micro_ping_info_and_stats(&Backend::in_memory()).await;
}

#[tokio::test]
async fn bad_input_gets_an_explicit_error_within_a_second_and_the_service_keeps_serving() {
    rpc::bad_input_gets_an_explicit_error_within_a_second_and_the_service_keeps_serving(
        &Backend::in_memory(),
    )
    .await;
}

#[tokio::test]
async fn nested_calls_end_by_the_callers_deadline() {
    rpc::nested_calls_end_by_the_callers_deadline(&Backend::in_memory()).await;
}

#[tokio::test]
async fn nested_requests_carry_the_time_remaining() {
    rpc::nested_requests_carry_the_time_remaining(&Backend::in_memory()).await;
}

#[tokio::test]
async fn retries_end_by_the_calls_deadline() {
    rpc::retries_end_by_the_calls_deadline(&Backend::in_memory()).await;
}

#[tokio::test]
async fn srv_info_describes_a_single_active_service() {
    rpc::srv_info_describes_a_single_active_service(&Backend::in_memory()).await;
}
