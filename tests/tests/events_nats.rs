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

/// A nats-server restart (same storage) loses nothing: events published before and after it
/// are all handled, and a command sent after it completes.
#[tokio::test]
async fn events_and_commands_survive_a_server_restart() {
    use std::collections::BTreeSet;
    use std::sync::Arc;
    use std::time::Duration;

    use aegis::events::{EventPublisher, Topic};
    use aegis_tests::commands::{Job, JobLog, JobsClient, quick_commands, start_jobs};
    use aegis_tests::events::{Entry, Tally, start_ledger};

    let mut server = NatsServer::start();
    let backend = server.backend().await;
    let tally = Arc::new(Tally::default());
    let ledger = start_ledger(&backend, "ledger-r", &tally, (vec![], vec![])).await;
    let log = Arc::new(JobLog::default());
    let jobs = start_jobs(&backend, &log, quick_commands()).await;
    let topic = Topic::<Entry>::new("ledger", "created").expect("topic");
    let publisher = EventPublisher::new(&backend).expect("publisher");
    for n in 0..50 {
        publisher
            .publish(&topic, &Entry { n })
            .await
            .expect("published");
    }
    tally
        .wait("the events before the restart", |t| {
            t.all("created").len() >= 50
        })
        .await;

    server.restart();
    // Publishing may fail until the client has reconnected; each event is retried until
    // stored (the same message id would be deduplicated; a new one is fine here).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for n in 50..100 {
        while let Err(error) = publisher.publish(&topic, &Entry { n }).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "cannot publish after the restart: {error}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tally
        .wait("every event, across the restart", |t| {
            t.all("created").iter().collect::<BTreeSet<_>>().len() >= 100
        })
        .await;
    let client = JobsClient::new(&backend);
    let done = loop {
        match client
            .work(Job {
                n: 1,
                ..Job::default()
            })
            .await
        {
            Ok(handle) => {
                break tokio::time::timeout(Duration::from_secs(60), handle.result()).await;
            }
            Err(error) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "cannot send after the restart: {error}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(done.expect("in time").expect("completed").n, 1);
    ledger.stop().await.expect("stops");
    jobs.stop().await.expect("stops");
}
