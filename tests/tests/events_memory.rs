//! Event scenarios on the in-memory backend (the same ones run on NATS).

use std::sync::Arc;

use aegis::Backend;
use aegis::adapters::memory::InMemoryMetrics;
use aegis_tests::events;

#[tokio::test]
async fn compete_handles_each_of_10000_events_once_across_3_instances() {
    events::compete_handles_each_event_once(&Backend::in_memory(), 3, 10_000).await;
}

#[tokio::test]
async fn broadcast_delivers_all_10000_events_to_each_of_3_instances() {
    events::broadcast_reaches_every_instance(&Backend::in_memory(), 3, 10_000).await;
}

#[tokio::test]
async fn subscriptions_of_one_service_stay_apart() {
    events::subscriptions_of_one_service_stay_apart(&Backend::in_memory()).await;
}

#[tokio::test]
async fn poison_events_end_in_dead_letters() {
    let metrics = Arc::new(InMemoryMetrics::new());
    let backend = Backend::in_memory().with_metrics(metrics.clone());
    events::poison_events_end_in_dead_letters(&backend).await;
    // 48 healthy events; the poison one failed 3 times then gave up, the bad one at once.
    let outcome = |outcome| {
        [
            ("service", "ledger"),
            ("handler", "created"),
            ("outcome", outcome),
        ]
    };
    let deliveries = "aegis_events_deliveries_total";
    assert_eq!(metrics.counter(deliveries, &outcome("handled")), 48);
    assert_eq!(metrics.counter(deliveries, &outcome("retried")), 3);
    assert_eq!(metrics.counter(deliveries, &outcome("dead_lettered")), 2);
    assert_eq!(
        metrics.counter_total(deliveries),
        48 + 3 + 2,
        "no other series"
    );
    let handled = metrics
        .summary(
            "aegis_events_handler_duration_seconds",
            &[("service", "ledger"), ("handler", "created")],
        )
        .expect("handler times");
    assert_eq!(handled.count, 48 + 4 + 1);
}

#[tokio::test]
async fn new_subscriptions_start_with_new_events() {
    events::new_subscriptions_start_with_new_events(&Backend::in_memory()).await;
}

#[tokio::test]
async fn python_shaped_events_interoperate() {
    events::python_shaped_events_interoperate(&Backend::in_memory()).await;
}
