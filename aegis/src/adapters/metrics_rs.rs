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

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn forwards_to_the_installed_recorder() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            MetricsRs.increment("aegis.test.hits", 2);
            MetricsRs.increment("aegis.test.hits", 1);
            MetricsRs.gauge("aegis.test.size", 4.0);
            MetricsRs.observe("aegis.test.latency", 0.5);
        });
        let mut seen = Vec::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let name = key.key().name().to_owned();
            let value = match value {
                DebugValue::Counter(n) => format!("{n}"),
                DebugValue::Gauge(g) => format!("{}", g.into_inner()),
                DebugValue::Histogram(h) => {
                    format!("{:?}", h.iter().map(|v| v.into_inner()).collect::<Vec<_>>())
                }
            };
            seen.push((name, value));
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                ("aegis.test.hits".to_owned(), "3".to_owned()),
                ("aegis.test.latency".to_owned(), "[0.5]".to_owned()),
                ("aegis.test.size".to_owned(), "4".to_owned()),
            ]
        );
    }
}
