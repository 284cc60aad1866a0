//! Metrics scenarios on the in-memory backend.

use std::sync::Arc;

use aegis::Backend;
use aegis::adapters::memory::InMemoryMetrics;
use aegis_tests::metrics;

#[tokio::test]
async fn rpc_metrics_count_every_outcome_by_label() {
    let recorded = Arc::new(InMemoryMetrics::new());
    let backend = Backend::in_memory().with_metrics(recorded.clone());
    metrics::rpc_metrics_count_every_outcome_by_label(&backend, &recorded).await;
}
