//! Middleware scenarios on NATS, each against its own nats-server.

use aegis_tests::middleware;
use aegis_tests::nats_server::NatsServer;

#[tokio::test]
async fn a_layer_refuses_calls_without_a_token_and_clients_add_it() {
    let server = NatsServer::start();
    middleware::a_layer_refuses_calls_without_a_token_and_clients_add_it(&server.backend().await)
        .await;
}

#[tokio::test]
async fn layers_run_in_order_and_see_every_outcome() {
    let server = NatsServer::start();
    middleware::layers_run_in_order_and_see_every_outcome(&server.backend().await).await;
}

#[tokio::test]
async fn a_slow_layer_is_bounded_by_the_deadline() {
    let server = NatsServer::start();
    middleware::a_slow_layer_is_bounded_by_the_deadline(&server.backend().await).await;
}

#[tokio::test]
async fn a_panicking_after_does_not_stop_the_service() {
    let server = NatsServer::start();
    middleware::a_panicking_after_does_not_stop_the_service(&server.backend().await).await;
}

#[tokio::test]
async fn interceptors_run_on_every_attempt_and_may_refuse() {
    let server = NatsServer::start();
    middleware::interceptors_run_on_every_attempt_and_may_refuse(&server.backend().await).await;
}

#[tokio::test]
async fn commands_carry_the_clients_headers() {
    let server = NatsServer::start();
    middleware::commands_carry_the_clients_headers(&server.backend().await).await;
}
