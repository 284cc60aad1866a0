//! What the RPC server and client measure (every metric is in `docs/metrics.md`): requests
//! by code, durations and requests in flight on the server; calls by outcome, errors by
//! kind, durations and retries on the client.
//!
//! Both recorders exist only when the backend's metrics are
//! [enabled](crate::ports::Metrics::enabled): with [`NoMetrics`](crate::ports::NoMetrics), the
//! default, a request costs one `None` check, no clock read and no label.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use crate::Error;
use crate::domain::envelope::codes;
use crate::ports::{CounterSeries, Metrics, ValueSeries};

const SERVER_REQUESTS: &str = "aegis_rpc_server_requests_total";
const SERVER_DURATION: &str = "aegis_rpc_server_duration_seconds";
const SERVER_IN_FLIGHT: &str = "aegis_rpc_server_in_flight";
const CLIENT_CALLS: &str = "aegis_rpc_client_calls_total";
const CLIENT_ERRORS: &str = "aegis_rpc_client_errors_total";
const CLIENT_DURATION: &str = "aegis_rpc_client_duration_seconds";
const CLIENT_RETRIES: &str = "aegis_rpc_client_retries_total";

/// The codes aegis uses, and their `code` labels (`None`: a success). Their series are
/// resolved once per method and reused.
const KNOWN_CODES: [(Option<u16>, &str); 11] = [
    (None, "200"),
    (Some(codes::BAD_REQUEST), "400"),
    (Some(codes::UNAUTHORIZED), "401"),
    (Some(codes::FORBIDDEN), "403"),
    (Some(codes::NOT_FOUND), "404"),
    (Some(codes::PAYLOAD_TOO_LARGE), "413"),
    (Some(codes::CANCELLED), "499"),
    (Some(codes::INTERNAL), "500"),
    (Some(codes::BAD_GATEWAY), "502"),
    (Some(codes::NOT_ACTIVE), "503"),
    (Some(codes::TIMEOUT), "504"),
];

/// The `code` label of a reply: `"200"` for a success, else the error's code. The codes
/// aegis uses are static strings; another costs one small allocation.
pub(crate) fn code_label(error_code: Option<u16>) -> Cow<'static, str> {
    match KNOWN_CODES.iter().find(|(code, _)| *code == error_code) {
        Some((_, label)) => Cow::Borrowed(label),
        None => Cow::Owned(error_code.unwrap_or_default().to_string()),
    }
}

/// The server side of one service. Series are resolved once (when the backend's metrics
/// can), so that a request adds to a counter and records a duration without looking its
/// labels up.
#[derive(Clone)]
pub(crate) struct ServerMetrics {
    metrics: Arc<dyn Metrics>,
    service: &'static str,
    /// In dispatch-index order.
    methods: Arc<[MethodSeries]>,
    in_flight: Option<ValueSeries>,
}

/// The series of one method.
struct MethodSeries {
    name: &'static str,
    duration: Option<ValueSeries>,
    /// By [`KNOWN_CODES`] index, resolved at the first reply with that code.
    requests: [OnceLock<Option<CounterSeries>>; KNOWN_CODES.len()],
}

impl ServerMetrics {
    /// `None` when `metrics` keeps nothing. `methods`: the service's, in dispatch-index order.
    pub(crate) fn new(
        metrics: &Arc<dyn Metrics>,
        service: &'static str,
        methods: &[&'static str],
    ) -> Option<Self> {
        if !metrics.enabled() {
            return None;
        }
        let methods = methods
            .iter()
            .map(|&name| MethodSeries {
                name,
                duration: metrics
                    .histogram_series(SERVER_DURATION, &[("service", service), ("method", name)]),
                requests: Default::default(),
            })
            .collect();
        Some(ServerMetrics {
            metrics: Arc::clone(metrics),
            service,
            methods,
            in_flight: metrics.gauge_series(SERVER_IN_FLIGHT, &[("service", service)]),
        })
    }

    /// One request to method `index` handled in `elapsed`, answered with `error_code`
    /// (`None`: success).
    pub(crate) fn request(&self, index: usize, error_code: Option<u16>, elapsed: Duration) {
        let Some(method) = self.methods.get(index) else {
            return;
        };
        let code = code_label(error_code);
        let labels = [
            ("service", self.service),
            ("method", method.name),
            ("code", &*code),
        ];
        let known = KNOWN_CODES.iter().position(|(c, _)| *c == error_code);
        let counter = known.and_then(|at| {
            method.requests[at]
                .get_or_init(|| self.metrics.counter_series(SERVER_REQUESTS, &labels))
                .as_ref()
        });
        match counter {
            Some(counter) => counter.increment(1),
            None => self.metrics.increment(SERVER_REQUESTS, &labels, 1),
        }
        let seconds = elapsed.as_secs_f64();
        match &method.duration {
            Some(duration) => duration.record(seconds),
            None => self.metrics.observe(SERVER_DURATION, &labels[..2], seconds),
        }
    }

    /// Handlers running now.
    pub(crate) fn in_flight(&self, running: usize) {
        match &self.in_flight {
            Some(gauge) => gauge.record(running as f64),
            None => {
                let labels = [("service", self.service)];
                self.metrics
                    .gauge(SERVER_IN_FLIGHT, &labels, running as f64);
            }
        }
    }
}

/// The client side of calls to one service. The series of successful calls are resolved
/// once per method (when the backend's metrics can); failures take the plain path.
#[derive(Clone)]
pub(crate) struct ClientMetrics {
    metrics: Arc<dyn Metrics>,
    service: &'static str,
    /// Shared by the clones of a client (generated clients are cloned per call).
    methods: Arc<RwLock<HashMap<Box<str>, Arc<CallSeries>>>>,
}

/// The series of one method's calls.
struct CallSeries {
    succeeded: Option<CounterSeries>,
    duration: Option<ValueSeries>,
}

/// Methods whose series a client keeps: enough for any service; a caller that makes up
/// names beyond it takes the plain path for the rest.
const CLIENT_SERIES_LIMIT: usize = 256;

impl ClientMetrics {
    /// `None` when `metrics` keeps nothing.
    pub(crate) fn new(metrics: &Arc<dyn Metrics>, service: &'static str) -> Option<Self> {
        metrics.enabled().then(|| ClientMetrics {
            metrics: Arc::clone(metrics),
            service,
            methods: Arc::default(),
        })
    }

    /// One call of `method` (its retries included) that ended with `outcome` after `elapsed`.
    pub(crate) fn call(&self, method: &str, outcome: Result<(), &Error>, elapsed: Duration) {
        let kind = outcome.err().map(Error::kind);
        let labels = [
            ("service", self.service),
            ("method", method),
            ("outcome", kind.unwrap_or("ok")),
        ];
        let series = self.series(method);
        let series = series.as_deref();
        match series
            .and_then(|s| s.succeeded.as_ref())
            .filter(|_| kind.is_none())
        {
            Some(counter) => counter.increment(1),
            None => self.metrics.increment(CLIENT_CALLS, &labels, 1),
        }
        let seconds = elapsed.as_secs_f64();
        match series.and_then(|s| s.duration.as_ref()) {
            Some(duration) => duration.record(seconds),
            None => self.metrics.observe(CLIENT_DURATION, &labels[..2], seconds),
        }
        if let Some(kind) = kind {
            let labels = [
                ("service", self.service),
                ("method", method),
                ("kind", kind),
            ];
            self.metrics.increment(CLIENT_ERRORS, &labels, 1);
        }
    }

    /// The series of `method`, resolved at its first call.
    fn series(&self, method: &str) -> Option<Arc<CallSeries>> {
        let read = self.methods.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = read.get(method) {
            return Some(Arc::clone(series));
        }
        if read.len() >= CLIENT_SERIES_LIMIT {
            return None;
        }
        drop(read);
        let get = [("service", self.service), ("method", method)];
        let ok = [
            ("service", self.service),
            ("method", method),
            ("outcome", "ok"),
        ];
        let series = Arc::new(CallSeries {
            succeeded: self.metrics.counter_series(CLIENT_CALLS, &ok),
            duration: self.metrics.histogram_series(CLIENT_DURATION, &get),
        });
        let mut write = self.methods.write().unwrap_or_else(PoisonError::into_inner);
        Some(Arc::clone(write.entry(method.into()).or_insert(series)))
    }

    /// One more attempt at `method` after one that failed.
    pub(crate) fn retry(&self, method: &str) {
        let labels = [("service", self.service), ("method", method)];
        self.metrics.increment(CLIENT_RETRIES, &labels, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::InMemoryMetrics;
    use crate::ports::{Labels, NoMetrics};

    #[test]
    fn codes_are_labelled_by_number() {
        assert_eq!(code_label(None), "200");
        assert_eq!(code_label(Some(codes::NOT_FOUND)), "404");
        assert_eq!(code_label(Some(codes::NOT_ACTIVE)), "503");
        assert_eq!(code_label(Some(418)), "418");
    }

    #[test]
    fn nothing_is_set_up_without_metrics() {
        let none: Arc<dyn Metrics> = Arc::new(NoMetrics);
        assert!(ServerMetrics::new(&none, "svc", &["get"]).is_none());
        assert!(ClientMetrics::new(&none, "svc").is_none());
    }

    /// Gives resolved series that add to the in-memory metrics, as `MetricsRs` gives the
    /// facade's handles.
    struct Resolving(Arc<InMemoryMetrics>);

    fn owned(labels: Labels<'_>) -> Vec<(&'static str, String)> {
        labels.iter().map(|(n, v)| (*n, (*v).to_owned())).collect()
    }

    fn borrowed<'a>(labels: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        labels.iter().map(|(n, v)| (*n, v.as_str())).collect()
    }

    impl Metrics for Resolving {
        fn increment(&self, name: &'static str, labels: Labels<'_>, by: u64) {
            self.0.increment(name, labels, by);
        }
        fn gauge(&self, name: &'static str, labels: Labels<'_>, value: f64) {
            self.0.gauge(name, labels, value);
        }
        fn observe(&self, name: &'static str, labels: Labels<'_>, value: f64) {
            self.0.observe(name, labels, value);
        }
        fn counter_series(&self, name: &'static str, labels: Labels<'_>) -> Option<CounterSeries> {
            let (memory, labels) = (Arc::clone(&self.0), owned(labels));
            Some(CounterSeries::new(move |by| {
                memory.increment(name, &borrowed(&labels), by);
            }))
        }
        fn histogram_series(&self, name: &'static str, labels: Labels<'_>) -> Option<ValueSeries> {
            let (memory, labels) = (Arc::clone(&self.0), owned(labels));
            Some(ValueSeries::new(move |value| {
                memory.observe(name, &borrowed(&labels), value);
            }))
        }
        fn gauge_series(&self, name: &'static str, labels: Labels<'_>) -> Option<ValueSeries> {
            let (memory, labels) = (Arc::clone(&self.0), owned(labels));
            Some(ValueSeries::new(move |value| {
                memory.gauge(name, &borrowed(&labels), value);
            }))
        }
    }

    /// The same measurements, recorded through resolved series or through plain calls.
    #[test]
    fn server_and_client_label_what_they_record() {
        let memory = Arc::new(InMemoryMetrics::new());
        record_and_check(&memory, memory.clone());
        let memory = Arc::new(InMemoryMetrics::new());
        record_and_check(&memory, Arc::new(Resolving(Arc::clone(&memory))));
    }

    fn record_and_check(memory: &InMemoryMetrics, metrics: Arc<dyn Metrics>) {
        let server = ServerMetrics::new(&metrics, "svc", &["put", "get"]).expect("enabled");
        server.request(1, None, Duration::from_millis(2));
        server.request(1, Some(codes::NOT_FOUND), Duration::from_millis(4));
        server.request(1, Some(418), Duration::from_millis(1));
        server.request(1, None, Duration::from_millis(3));
        server.request(7, None, Duration::from_millis(3));
        server.in_flight(3);
        let client = ClientMetrics::new(&metrics, "svc").expect("enabled");
        let timeout = Error::Timeout {
            subject: "rpc.svc.get".into(),
            after: Duration::from_secs(1),
        };
        client.call("get", Ok(()), Duration::from_millis(1));
        client.clone().call("get", Ok(()), Duration::from_millis(1));
        client.call("get", Err(&timeout), Duration::from_secs(1));
        client.retry("get");

        let get = [("service", "svc"), ("method", "get")];
        let code = |c| [("service", "svc"), ("method", "get"), ("code", c)];
        assert_eq!(memory.counter(SERVER_REQUESTS, &code("200")), 2);
        assert_eq!(memory.counter(SERVER_REQUESTS, &code("404")), 1);
        assert_eq!(memory.counter(SERVER_REQUESTS, &code("418")), 1);
        assert_eq!(memory.counter_total(SERVER_REQUESTS), 4);
        let duration = memory.summary(SERVER_DURATION, &get).expect("observed");
        assert_eq!((duration.count, duration.max), (4, 0.004));
        assert_eq!(
            memory.gauge_value(SERVER_IN_FLIGHT, &[("service", "svc")]),
            Some(3.0)
        );
        let outcome = |o| [("service", "svc"), ("method", "get"), ("outcome", o)];
        assert_eq!(memory.counter(CLIENT_CALLS, &outcome("ok")), 2);
        assert_eq!(memory.counter(CLIENT_CALLS, &outcome("timeout")), 1);
        let kind = [("service", "svc"), ("method", "get"), ("kind", "timeout")];
        assert_eq!(memory.counter(CLIENT_ERRORS, &kind), 1);
        assert_eq!(memory.counter_total(CLIENT_ERRORS), 1);
        assert_eq!(
            memory.summary(CLIENT_DURATION, &get).map(|s| s.count),
            Some(3)
        );
        assert_eq!(memory.counter(CLIENT_RETRIES, &get), 1);
    }
}
