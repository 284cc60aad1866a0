//! Event scenarios on NATS JetStream, each against its own nats-server.

use aegis_tests::events;
use aegis_tests::nats_server::NatsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compete_handles_each_of_10000_events_once_across_3_instances() {
    let server = NatsServer::start();
    events::compete_handles_each_event_once(&server.backend().await, 3, 10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_delivers_all_10000_events_to_each_of_3_instances() {
    let server = NatsServer::start();
    events::broadcast_reaches_every_instance(&server.backend().await, 3, 10_000).await;
}

#[tokio::test]
async fn subscriptions_of_one_service_stay_apart() {
    let server = NatsServer::start();
    events::subscriptions_of_one_service_stay_apart(&server.backend().await).await;
}

#[tokio::test]
async fn poison_events_end_in_dead_letters() {
    let server = NatsServer::start();
    events::poison_events_end_in_dead_letters(&server.backend().await).await;
}

#[tokio::test]
async fn new_subscriptions_start_with_new_events() {
    let server = NatsServer::start();
    events::new_subscriptions_start_with_new_events(&server.backend().await).await;
}

#[tokio::test]
async fn python_shaped_events_interoperate() {
    let server = NatsServer::start();
    events::python_shaped_events_interoperate(&server.backend().await).await;
}
