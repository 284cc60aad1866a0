/// The labels of one measurement: `(name, value)` pairs, borrowed (nothing is allocated to
/// pass them). Each metric has a fixed set of label names; `docs/metrics.md` lists them.
pub type Labels<'a> = &'a [(&'static str, &'a str)];

/// Where aegis reports its counters, gauges and observations, each under a Prometheus-style
/// name (`aegis_rpc_server_requests_total`) and its labels (`service`, `method`, ...).
///
/// [`InMemoryMetrics`](crate::adapters::memory::InMemoryMetrics) keeps them for reading back;
/// [`MetricsRs`](crate::adapters::MetricsRs) forwards them to the `metrics` crate facade, so
/// any metrics-rs exporter (Prometheus, StatsD, ...) publishes them.
pub trait Metrics: Send + Sync + 'static {
    /// Whether measurements are kept at all. Hot paths ask once, when they are set up, and
    /// skip their clocks and labels when it is `false` ([`NoMetrics`]).
    fn enabled(&self) -> bool {
        true
    }

    /// Adds `by` to the counter `name` with `labels`.
    fn increment(&self, name: &'static str, labels: Labels<'_>, by: u64);

    /// Sets the gauge `name` with `labels`.
    fn gauge(&self, name: &'static str, labels: Labels<'_>, value: f64);

    /// Records one observation (a duration in seconds, a size, ...) of the histogram `name`
    /// with `labels`.
    fn observe(&self, name: &'static str, labels: Labels<'_>, value: f64);
}

/// Discards everything (the default): [`enabled`](Metrics::enabled) is `false`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn enabled(&self) -> bool {
        false
    }
    fn increment(&self, _: &'static str, _: Labels<'_>, _: u64) {}
    fn gauge(&self, _: &'static str, _: Labels<'_>, _: f64) {}
    fn observe(&self, _: &'static str, _: Labels<'_>, _: f64) {}
}
