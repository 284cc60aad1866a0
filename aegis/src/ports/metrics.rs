/// Where aegis reports its counters, gauges and observations.
///
/// [`InMemoryMetrics`](crate::adapters::memory::InMemoryMetrics) keeps them for reading back;
/// [`MetricsRs`](crate::adapters::MetricsRs) forwards them to the `metrics` crate facade, so
/// any metrics-rs exporter (Prometheus, StatsD, ...) publishes them.
pub trait Metrics: Send + Sync + 'static {
    /// Adds `by` to the counter `name`.
    fn increment(&self, name: &str, by: u64);

    /// Sets the gauge `name`.
    fn gauge(&self, name: &str, value: f64);

    /// Records one observation (a duration in seconds, a size, ...) of `name`.
    fn observe(&self, name: &str, value: f64);
}

/// Discards everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn increment(&self, _: &str, _: u64) {}
    fn gauge(&self, _: &str, _: f64) {}
    fn observe(&self, _: &str, _: f64) {}
}
