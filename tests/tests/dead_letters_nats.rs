//! Dead-letter redrive on NATS JetStream, each scenario against its own nats-server.

use aegis_tests::dead_letters;
use aegis_tests::nats_server::NatsServer;

#[tokio::test]
async fn replay_after_a_fix_delivers_once_more() {
    let server = NatsServer::start();
    dead_letters::replay_after_a_fix_delivers_once_more(&server.backend().await).await;
}

#[tokio::test]
async fn list_filters_and_purges() {
    let server = NatsServer::start();
    dead_letters::list_filters_and_purges(&server.backend().await).await;
}
