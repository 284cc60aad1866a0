//! A backend: the set of adapters a service or client runs on.

use std::fmt;
use std::sync::Arc;

use crate::Error;
use crate::ports::{Clock, KvBuckets, MessageBus, Metrics, NoMetrics, Streams};

/// The adapters behind services and clients: a message bus, KV buckets and a clock.
///
/// Cheap to clone. [`Backend::in_memory`] is the embedded default: same semantics as NATS,
/// inside one process.
#[derive(Clone)]
pub struct Backend {
    bus: Arc<dyn MessageBus>,
    kv: Arc<dyn KvBuckets>,
    clock: Arc<dyn Clock>,
    metrics: Arc<dyn Metrics>,
    streams: Option<Arc<dyn Streams>>,
    propagate_traces: bool,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend").finish_non_exhaustive()
    }
}

impl Backend {
    /// A backend from explicit adapters, without persistent streams (add them with
    /// [`with_streams`](Self::with_streams) for events and commands).
    pub fn from_parts(
        bus: Arc<dyn MessageBus>,
        kv: Arc<dyn KvBuckets>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Backend {
            bus,
            kv,
            clock,
            metrics: Arc::new(NoMetrics),
            streams: None,
            propagate_traces: true,
        }
    }

    /// This backend, with `streams` for events and commands.
    pub fn with_streams(mut self, streams: Arc<dyn Streams>) -> Self {
        self.streams = Some(streams);
        self
    }

    /// The persistent streams behind events and commands.
    pub fn streams(&self) -> crate::Result<&Arc<dyn Streams>> {
        self.streams.as_ref().ok_or_else(|| {
            Error::invalid(
                "backend",
                "this backend has no persistent streams (events and commands need them): \
                 build it with `Backend::with_streams`",
            )
        })
    }

    /// This backend, reporting metrics to `metrics` (e.g. [`MetricsRs`](crate::adapters::MetricsRs)).
    pub fn with_metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// This backend, with `traceparent` sent (the default) or not (`false`) by the clients,
    /// publishers and command senders built on it. Handlers still run in a trace (a new one
    /// per message without a `traceparent`); turn it off only for peers that mishandle
    /// headers, or to measure what propagation costs.
    pub fn with_trace_propagation(mut self, propagate: bool) -> Self {
        self.propagate_traces = propagate;
        self
    }

    /// Whether clients built on this backend send `traceparent`.
    pub fn trace_propagation(&self) -> bool {
        self.propagate_traces
    }

    /// Where metrics go (nowhere by default).
    pub fn metrics(&self) -> &Arc<dyn Metrics> {
        &self.metrics
    }

    /// The message bus.
    pub fn bus(&self) -> &Arc<dyn MessageBus> {
        &self.bus
    }

    /// The KV buckets.
    pub fn kv(&self) -> &Arc<dyn KvBuckets> {
        &self.kv
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}
