//! Metrics kept in memory, for tests and for reading back in-process.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::ports::Metrics;

/// Counters, gauges and observation summaries, readable back.
#[derive(Debug, Default)]
pub struct InMemoryMetrics {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    counters: HashMap<String, u64>,
    gauges: HashMap<String, f64>,
    observations: HashMap<String, Summary>,
}

/// Count, sum, minimum and maximum of the observations of one name.
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

impl InMemoryMetrics {
    /// No metrics yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The counter `name` (0 if never incremented).
    pub fn counter(&self, name: &str) -> u64 {
        self.state().counters.get(name).copied().unwrap_or(0)
    }

    /// The gauge `name`, if ever set.
    pub fn gauge_value(&self, name: &str) -> Option<f64> {
        self.state().gauges.get(name).copied()
    }

    /// The observations of `name`, if any.
    pub fn summary(&self, name: &str) -> Option<Summary> {
        self.state().observations.get(name).copied()
    }
}

impl Metrics for InMemoryMetrics {
    fn increment(&self, name: &str, by: u64) {
        *self.state().counters.entry(name.to_owned()).or_insert(0) += by;
    }

    fn gauge(&self, name: &str, value: f64) {
        self.state().gauges.insert(name.to_owned(), value);
    }

    fn observe(&self, name: &str, value: f64) {
        let mut state = self.state();
        let summary = state
            .observations
            .entry(name.to_owned())
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

    #[test]
    fn keeps_what_it_is_given() {
        let metrics = InMemoryMetrics::new();
        metrics.increment("hits", 2);
        metrics.increment("hits", 1);
        metrics.gauge("size", 4.0);
        metrics.observe("latency", 1.0);
        metrics.observe("latency", 3.0);
        assert_eq!(metrics.counter("hits"), 3);
        assert_eq!(metrics.counter("misses"), 0);
        assert_eq!(metrics.gauge_value("size"), Some(4.0));
        let summary = metrics.summary("latency").expect("observed");
        assert_eq!(
            (summary.count, summary.sum, summary.min, summary.max),
            (2, 4.0, 1.0, 3.0)
        );
    }
}
