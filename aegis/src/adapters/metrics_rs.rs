//! The [`Metrics`] port on the `metrics` crate facade: install any metrics-rs recorder or
//! exporter and aegis's counters, gauges and histograms appear there, with their labels.

use crate::ports::{Labels, Metrics};

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
                "aegis_test_hits_total{service=svc,code=200} 3",
                "aegis_test_hits_total{service=svc,code=404} 1",
                "aegis_test_latency_seconds{} [0.5]",
                "aegis_test_size{service=svc} 4",
            ]
        );
    }
}
