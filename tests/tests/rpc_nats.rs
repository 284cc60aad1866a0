//! RPC scenarios on NATS, each against its own nats-server, and what only NATS has: a
//! `max_payload` and server restarts.

use std::time::{Duration, Instant};

use aegis::{Error, ServiceConfig};
use aegis_tests::nats_server::NatsServer;
use aegis_tests::rpc::{self, Echo, EchoServiceClient, within_a_second};

#[tokio::test]
async fn round_trips_in_msgpack_and_json() {
    let server = NatsServer::start();
    rpc::round_trips_in_msgpack_and_json(&server.backend().await).await;
}

#[tokio::test]
async fn python_shaped_requests_get_python_shaped_replies() {
    let server = NatsServer::start();
    rpc::python_shaped_requests_get_python_shaped_replies(&server.backend().await).await;
}

#[tokio::test]
async fn our_client_decodes_python_shaped_replies() {
    let server = NatsServer::start();
    rpc::our_client_decodes_python_shaped_replies(&server.backend().await).await;
}

#[tokio::test]
async fn undecodable_replies_are_decode_errors() {
    let server = NatsServer::start();
    rpc::undecodable_replies_are_decode_errors(&server.backend().await).await;
}

#[tokio::test]
async fn malformed_requests_get_an_error_reply_not_a_timeout() {
    let server = NatsServer::start();
    rpc::malformed_requests_get_an_error_reply_not_a_timeout(&server.backend().await).await;
}

#[tokio::test]
async fn handler_errors_carry_code_and_message() {
    let server = NatsServer::start();
    rpc::handler_errors_carry_code_and_message(&server.backend().await).await;
}

#[tokio::test]
async fn anyhow_errors_are_500s_with_their_whole_chain() {
    let server = NatsServer::start();
    rpc::anyhow_errors_are_500s_with_their_whole_chain(&server.backend().await).await;
}

#[tokio::test]
async fn a_panicking_handler_gets_an_error_reply_and_the_service_keeps_serving() {
    let server = NatsServer::start();
    rpc::a_panicking_handler_gets_an_error_reply_and_the_service_keeps_serving(
        &server.backend().await,
    )
    .await;
}

#[tokio::test]
async fn nested_calls_end_by_the_callers_deadline() {
    let server = NatsServer::start();
    rpc::nested_calls_end_by_the_callers_deadline(&server.backend().await).await;
}

#[tokio::test]
async fn nested_requests_carry_the_time_remaining() {
    let server = NatsServer::start();
    rpc::nested_requests_carry_the_time_remaining(&server.backend().await).await;
}

#[tokio::test]
async fn retries_end_by_the_calls_deadline() {
    let server = NatsServer::start();
    rpc::retries_end_by_the_calls_deadline(&server.backend().await).await;
}

#[tokio::test]
async fn handlers_past_their_deadline_get_a_timeout_reply() {
    let server = NatsServer::start();
    rpc::handlers_past_their_deadline_get_a_timeout_reply(&server.backend().await).await;
}

#[tokio::test]
async fn the_callers_timeout_bounds_the_call() {
    let server = NatsServer::start();
    rpc::the_callers_timeout_bounds_the_call(&server.backend().await).await;
}

#[tokio::test]
async fn traceparent_reaches_the_handler() {
    let server = NatsServer::start();
    rpc::traceparent_reaches_the_handler(&server.backend().await).await;
}

#[tokio::test]
async fn a_stopped_service_no_longer_answers() {
    let server = NatsServer::start();
    rpc::a_stopped_service_no_longer_answers(&server.backend().await).await;
}

#[tokio::test]
async fn graceful_stop_finishes_in_flight_calls_and_refuses_new_ones() {
    let server = NatsServer::start();
    rpc::graceful_stop_finishes_in_flight_calls_and_refuses_new_ones(&server.backend().await).await;
}

#[tokio::test]
async fn drain_is_bounded() {
    let server = NatsServer::start();
    rpc::drain_is_bounded(&server.backend().await).await;
}

#[tokio::test]
async fn lifecycle_hooks_run_in_order_and_failures_are_reported() {
    let server = NatsServer::start();
    rpc::lifecycle_hooks_run_in_order_and_failures_are_reported(&server.backend().await).await;
}

#[tokio::test]
async fn queue_group_spreads_calls_over_instances() {
    let server = NatsServer::start();
    rpc::queue_group_spreads_calls_over_instances(&server.backend().await).await;
}

#[tokio::test]
async fn nats_micro_ping_info_and_stats() {
    let server = NatsServer::start();
    rpc::nats_micro_ping_info_and_stats(&server.backend().await).await;
}

#[tokio::test]
async fn bad_input_gets_an_explicit_error_within_a_second_and_the_service_keeps_serving() {
    let server = NatsServer::start();
    rpc::bad_input_gets_an_explicit_error_within_a_second_and_the_service_keeps_serving(
        &server.backend().await,
    )
    .await;
}

/// Payloads over the server's `max_payload`: a request is refused by the client, a reply by
/// the service with a 413; both within a second, and the service keeps serving.
#[tokio::test]
async fn oversize_requests_and_replies_get_an_explicit_error_within_a_second() {
    let server = NatsServer::start();
    let backend = server.backend().await;
    let (_, handle) = rpc::start(&backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(&backend).with_timeout(Duration::from_secs(10));
    let oversize = Echo {
        message: "x".repeat(2 * 1024 * 1024),
    };
    match within_a_second("oversize request", client.echo(oversize)).await {
        Err(Error::BadRequest { message }) => assert!(message.contains("too large"), "{message}"),
        other => panic!("expected a client-side error, got {other:?}"),
    }
    match within_a_second("oversize reply", client.huge()).await {
        Err(Error::Remote { code: 413, .. }) => {}
        other => panic!("expected a 413 reply, got {other:?}"),
    }
    let still = client
        .echo(Echo {
            message: "still here".into(),
        })
        .await
        .expect("still serving");
    assert_eq!(still.echo, "still here");
    handle.stop().await.expect("stops");
}

#[tokio::test]
async fn calls_succeed_again_within_five_seconds_of_a_server_restart() {
    let mut server = NatsServer::start();
    let (_, handle) = rpc::start(&server.backend().await, rpc::config("echo-1")).await;
    let client =
        EchoServiceClient::new(&server.backend().await).with_timeout(Duration::from_millis(500));
    client
        .echo(Echo {
            message: "before".into(),
        })
        .await
        .expect("before restart");

    server.restart();
    let back = Instant::now();
    let deadline = back + Duration::from_secs(5);
    loop {
        match client
            .echo(Echo {
                message: "after".into(),
            })
            .await
        {
            Ok(reply) => {
                assert_eq!(reply.echo, "after");
                break;
            }
            Err(error) => assert!(
                Instant::now() < deadline,
                "still failing 5 s after restart: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await; // retry interval of the poll
    }
    println!(
        "calls succeeded again {:?} after the server was back",
        back.elapsed()
    );
    handle.stop().await.expect("stops");
}

#[tokio::test]
async fn srv_info_describes_a_single_active_service() {
    let server = NatsServer::start();
    rpc::srv_info_describes_a_single_active_service(&server.backend().await).await;
}
