//! Dead-letter redrive on the in-memory backend (the same scenarios run on NATS).

use aegis::Backend;
use aegis_tests::dead_letters;

#[tokio::test]
async fn replay_after_a_fix_delivers_once_more() {
    dead_letters::replay_after_a_fix_delivers_once_more(&Backend::in_memory()).await;
}

#[tokio::test]
async fn list_filters_and_purges() {
    dead_letters::list_filters_and_purges(&Backend::in_memory()).await;
}
