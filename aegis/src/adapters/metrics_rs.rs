//! The [`Metrics`] port on the `metrics` crate facade: install any metrics-rs recorder or
//! exporter and aegis's counters, gauges and histograms appear there.

use crate::ports::Metrics;

/// Forwards to `metrics::counter!`, `metrics::gauge!` and `metrics::histogram!`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsRs;

impl Metrics for MetricsRs {
    fn increment(&self, name: &str, by: u64) {
        metrics::counter!(name.to_owned()).increment(by);
    }

    fn gauge(&self, name: &str, value: f64) {
        metrics::gauge!(name.to_owned()).set(value);
    }

    fn observe(&self, name: &str, value: f64) {
        metrics::histogram!(name.to_owned()).record(value);
    }
}
