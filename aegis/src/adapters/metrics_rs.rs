//! The [`Metrics`] port on the `metrics` crate facade: install any metrics-rs recorder or
//! exporter and aegis's counters, gauges and histograms appear there, with their labels.

use crate::ports::{CounterSeries, Labels, Metrics, ValueSeries};

/// Forwards to `metrics::counter!`, `metrics::gauge!` and `metrics::histogram!`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsRs;

/// The facade's labels: names are static, values are copied (the facade keeps them).
fn labels(labels: Labels<'_>) -> Vec<metrics::Label> {
    labels
        .iter()
        .map(|(name, value)| metrics::Label::new(*name, (*value).to_owned()))
        .collect()
}

impl Metrics for MetricsRs {
    fn increment(&self, name: &'static str, with: Labels<'_>, by: u64) {
        metrics::counter!(name, labels(with)).increment(by);
    }

    fn gauge(&self, name: &'static str, with: Labels<'_>, value: f64) {
        metrics::gauge!(name, labels(with)).set(value);
    }

    fn observe(&self, name: &'static str, with: Labels<'_>, value: f64) {
        metrics::histogram!(name, labels(with)).record(value);
    }

    // The facade's handles: the recorder looks the series up once, not on every request.
    fn counter_series(&self, name: &'static str, with: Labels<'_>) -> Option<CounterSeries> {
        let counter = metrics::counter!(name, labels(with));
        Some(CounterSeries::new(move |by| counter.increment(by)))
    }

    fn histogram_series(&self, name: &'static str, with: Labels<'_>) -> Option<ValueSeries> {
        let histogram = metrics::histogram!(name, labels(with));
        Some(ValueSeries::new(move |value| histogram.record(value)))
    }

    fn gauge_series(&self, name: &'static str, with: Labels<'_>) -> Option<ValueSeries> {
        let gauge = metrics::gauge!(name, labels(with));
        Some(ValueSeries::new(move |value| gauge.set(value)))
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn forwards_names_labels_and_values_to_the_installed_recorder() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let ok = [("service", "svc"), ("code", "200")];
        metrics::with_local_recorder(&recorder, || {
            MetricsRs.increment("aegis_test_hits_total", &ok, 2);
            MetricsRs.increment("aegis_test_hits_total", &ok, 1);
            MetricsRs.increment(
                "aegis_test_hits_total",
                &[("service", "svc"), ("code", "404")],
                1,
            );
            MetricsRs.gauge("aegis_test_size", &[("service", "svc")], 4.0);
            MetricsRs.observe("aegis_test_latency_seconds", &[], 0.5);
            // Resolved series land in the same series as the plain calls.
            let hits = MetricsRs
                .counter_series("aegis_test_hits_total", &ok)
                .expect("a handle");
            hits.increment(4);
            let size = MetricsRs.gauge_series("aegis_test_size", &[("service", "svc")]);
            size.expect("a handle").record(5.0);
            let latency = MetricsRs.histogram_series("aegis_test_latency_seconds", &[]);
            latency.expect("a handle").record(0.25);
        });
        let mut seen = Vec::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let name = key.key().name().to_owned();
            let labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let value = match value {
                DebugValue::Counter(n) => format!("{n}"),
                DebugValue::Gauge(g) => format!("{}", g.into_inner()),
                DebugValue::Histogram(h) => {
                    format!("{:?}", h.iter().map(|v| v.into_inner()).collect::<Vec<_>>())
                }
            };
            seen.push(format!("{name}{{{}}} {value}", labels.join(",")));
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                "aegis_test_hits_total{service=svc,code=200} 7",
                "aegis_test_hits_total{service=svc,code=404} 1",
                "aegis_test_latency_seconds{} [0.5, 0.25]",
                "aegis_test_size{service=svc} 5",
            ]
        );
    }
}
