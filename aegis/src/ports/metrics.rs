use std::fmt;
use std::sync::Arc;

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

    /// The counter `name` with `labels`, resolved once for a hot path that adds to it many
    /// times, or `None` (the default) when the backend has no such handle: then the caller
    /// uses [`increment`](Self::increment) each time. Both must count the same series.
    fn counter_series(&self, name: &'static str, labels: Labels<'_>) -> Option<CounterSeries> {
        let _ = (name, labels);
        None
    }

    /// The histogram `name` with `labels`, resolved once (see
    /// [`counter_series`](Self::counter_series)).
    fn histogram_series(&self, name: &'static str, labels: Labels<'_>) -> Option<ValueSeries> {
        let _ = (name, labels);
        None
    }

    /// The gauge `name` with `labels`, resolved once (see
    /// [`counter_series`](Self::counter_series)).
    fn gauge_series(&self, name: &'static str, labels: Labels<'_>) -> Option<ValueSeries> {
        let _ = (name, labels);
        None
    }
}

/// A counter with its labels, resolved: adding is what is left to do.
#[derive(Clone)]
pub struct CounterSeries(Arc<dyn Fn(u64) + Send + Sync>);

impl CounterSeries {
    /// A series that `add` adds to.
    pub fn new(add: impl Fn(u64) + Send + Sync + 'static) -> Self {
        CounterSeries(Arc::new(add))
    }

    /// Adds `by`.
    pub fn increment(&self, by: u64) {
        (self.0)(by);
    }
}

impl fmt::Debug for CounterSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CounterSeries")
    }
}

/// A histogram or gauge with its labels, resolved: recording (observing, or setting) is what
/// is left to do.
#[derive(Clone)]
pub struct ValueSeries(Arc<dyn Fn(f64) + Send + Sync>);

impl ValueSeries {
    /// A series that `record` records into.
    pub fn new(record: impl Fn(f64) + Send + Sync + 'static) -> Self {
        ValueSeries(Arc::new(record))
    }

    /// Records `value` (an observation of a histogram, the value of a gauge).
    pub fn record(&self, value: f64) {
        (self.0)(value);
    }
}

impl fmt::Debug for ValueSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ValueSeries")
    }
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
