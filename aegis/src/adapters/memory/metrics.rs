//! Metrics kept in memory, for tests and for reading back in-process.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::ports::{Labels, Metrics};

/// Label names and values of one series, sorted by name.
pub type LabelSet = Vec<(String, String)>;

/// Counters, gauges and observation summaries, readable back by name and labels.
///
/// ```
/// # use aegis::adapters::memory::InMemoryMetrics;
/// # use aegis::ports::Metrics;
/// let metrics = InMemoryMetrics::new();
/// metrics.increment("hits_total", &[("service", "a"), ("code", "200")], 2);
/// // Labels are matched as a set: their order does not matter.
/// assert_eq!(metrics.counter("hits_total", &[("code", "200"), ("service", "a")]), 2);
/// assert_eq!(metrics.counter("hits_total", &[("service", "a")]), 0);
/// ```
#[derive(Debug, Default)]
pub struct InMemoryMetrics {
    state: Mutex<State>,
}

type Series = (String, LabelSet);

#[derive(Debug, Default)]
struct State {
    counters: BTreeMap<Series, u64>,
    gauges: BTreeMap<Series, f64>,
    observations: BTreeMap<Series, Summary>,
}

/// Count, sum, minimum and maximum of the observations of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of observations.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    let mut set: LabelSet = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    set.sort();
    (name.to_owned(), set)
}

/// Every series of `name` in `map`, with its value.
fn named<T: Copy>(map: &BTreeMap<Series, T>, name: &str) -> Vec<(LabelSet, T)> {
    map.iter()
        .filter(|((n, _), _)| n == name)
        .map(|((_, labels), value)| (labels.clone(), *value))
        .collect()
}

impl InMemoryMetrics {
    /// No metrics yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The counter `name` with exactly `labels` (in any order); 0 if never incremented.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let key = series(name, labels);
        self.state().counters.get(&key).copied().unwrap_or(0)
    }

    /// Every series of the counter `name`: its labels (sorted by name) and value, in label order.
    pub fn counters(&self, name: &str) -> Vec<(LabelSet, u64)> {
        named(&self.state().counters, name)
    }

    /// The counter `name` summed over all its labels.
    pub fn counter_total(&self, name: &str) -> u64 {
        self.counters(name).iter().map(|(_, n)| n).sum()
    }

    /// The gauge `name` with exactly `labels`, if ever set.
    pub fn gauge_value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let key = series(name, labels);
        self.state().gauges.get(&key).copied()
    }

    /// Every series of the gauge `name`: its labels (sorted by name) and value.
    pub fn gauges(&self, name: &str) -> Vec<(LabelSet, f64)> {
        named(&self.state().gauges, name)
    }

    /// The observations of `name` with exactly `labels`, if any.
    pub fn summary(&self, name: &str, labels: &[(&str, &str)]) -> Option<Summary> {
        let key = series(name, labels);
        self.state().observations.get(&key).copied()
    }

    /// Every series of the histogram `name`: its labels (sorted by name) and summary.
    pub fn summaries(&self, name: &str) -> Vec<(LabelSet, Summary)> {
        named(&self.state().observations, name)
    }
}

impl Metrics for InMemoryMetrics {
    fn increment(&self, name: &'static str, labels: Labels<'_>, by: u64) {
        *self
            .state()
            .counters
            .entry(series(name, labels))
            .or_insert(0) += by;
    }

    fn gauge(&self, name: &'static str, labels: Labels<'_>, value: f64) {
        self.state().gauges.insert(series(name, labels), value);
    }

    fn observe(&self, name: &'static str, labels: Labels<'_>, value: f64) {
        let mut state = self.state();
        let summary = state
            .observations
            .entry(series(name, labels))
            .or_insert(Summary {
                count: 0,
                sum: 0.0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            });
        summary.count += 1;
        summary.sum += value;
        summary.min = summary.min.min(value);
        summary.max = summary.max.max(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(labels: &[(&str, &str)]) -> LabelSet {
        series("", labels).1
    }

    #[test]
    fn keeps_each_series_apart() {
        let metrics = InMemoryMetrics::new();
        let ok = [("service", "a"), ("code", "200")];
        let failed = [("service", "a"), ("code", "500")];
        metrics.increment("hits_total", &ok, 2);
        metrics.increment("hits_total", &ok, 1);
        metrics.increment("hits_total", &failed, 1);
        metrics.gauge("size", &[("service", "a")], 4.0);
        metrics.gauge("size", &[("service", "b")], 5.0);
        metrics.observe("latency_seconds", &[("service", "a")], 1.0);
        metrics.observe("latency_seconds", &[("service", "a")], 3.0);

        assert_eq!(metrics.counter("hits_total", &ok), 3);
        assert_eq!(
            metrics.counter("hits_total", &[("code", "200"), ("service", "a")]),
            3,
            "labels are a set"
        );
        assert_eq!(metrics.counter("hits_total", &[("service", "a")]), 0);
        assert_eq!(metrics.counter("misses_total", &ok), 0);
        assert_eq!(metrics.counter_total("hits_total"), 4);
        assert_eq!(
            metrics.counters("hits_total"),
            [(set(&ok), 3), (set(&failed), 1)]
        );
        assert_eq!(metrics.gauge_value("size", &[("service", "a")]), Some(4.0));
        assert_eq!(metrics.gauge_value("size", &[("service", "c")]), None);
        assert_eq!(metrics.gauges("size").len(), 2);
        let summary = metrics
            .summary("latency_seconds", &[("service", "a")])
            .expect("observed");
        assert_eq!(
            (summary.count, summary.sum, summary.min, summary.max),
            (2, 4.0, 1.0, 3.0)
        );
        assert_eq!(metrics.summaries("latency_seconds").len(), 1);
        assert!(metrics.enabled());
    }
}
