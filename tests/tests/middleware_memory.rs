//! Middleware scenarios on the in-memory backend (the same ones run on NATS).

use aegis::Backend;
use aegis_tests::middleware;

#[tokio::test]
async fn a_layer_refuses_calls_without_a_token_and_clients_add_it() {
    middleware::a_layer_refuses_calls_without_a_token_and_clients_add_it(&Backend::in_memory())
        .await;
}

#[tokio::test]
async fn layers_run_in_order_and_see_every_outcome() {
    middleware::layers_run_in_order_and_see_every_outcome(&Backend::in_memory()).await;
}

#[tokio::test]
async fn a_slow_layer_is_bounded_by_the_deadline() {
    middleware::a_slow_layer_is_bounded_by_the_deadline(&Backend::in_memory()).await;
}

#[tokio::test]
async fn a_panicking_after_does_not_stop_the_service() {
    middleware::a_panicking_after_does_not_stop_the_service(&Backend::in_memory()).await;
}

#[tokio::test]
async fn interceptors_run_on_every_attempt_and_may_refuse() {
    middleware::interceptors_run_on_every_attempt_and_may_refuse(&Backend::in_memory()).await;
}

#[tokio::test]
async fn commands_carry_the_clients_headers() {
    middleware::commands_carry_the_clients_headers(&Backend::in_memory()).await;
}
