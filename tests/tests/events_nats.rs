//! Event scenarios on NATS JetStream, each against its own nats-server.

use aegis::Backend;
use aegis::adapters::nats::NatsOptions;
use aegis_tests::events;
use aegis_tests::nats_server::NatsServer;

async fn connect(server: &NatsServer) -> Backend {
    NatsOptions::new(server.url())
        .retry_initial_connect(false)
        .connect()
        .await
        .expect("connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compete_handles_each_of_10000_events_once_across_3_instances() {
    let server = NatsServer::start();
    events::compete_handles_each_event_once(&connect(&server).await, 3, 10_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_delivers_all_10000_events_to_each_of_3_instances() {
    let server = NatsServer::start();
    events::broadcast_reaches_every_instance(&connect(&server).await, 3, 10_000).await;
}

#[tokio::test]
async fn subscriptions_of_one_service_stay_apart() {
    let server = NatsServer::start();
    events::subscriptions_of_one_service_stay_apart(&connect(&server).await).await;
}

#[tokio::test]
async fn poison_events_end_in_dead_letters() {
    let server = NatsServer::start();
    events::poison_events_end_in_dead_letters(&connect(&server).await).await;
}

#[tokio::test]
async fn new_subscriptions_start_with_new_events() {
    let server = NatsServer::start();
    events::new_subscriptions_start_with_new_events(&connect(&server).await).await;
}

#[tokio::test]
async fn python_shaped_events_interoperate() {
    let server = NatsServer::start();
    events::python_shaped_events_interoperate(&connect(&server).await).await;
}
