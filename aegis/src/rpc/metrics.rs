//! What the RPC server and client measure (every metric is in `docs/metrics.md`): requests
//! by code, durations and requests in flight on the server; calls by outcome, errors by
//! kind, durations and retries on the client.
//!
//! Both recorders exist only when the backend's metrics are
//! [enabled](crate::ports::Metrics::enabled): with [`NoMetrics`](crate::ports::NoMetrics), the
//! default, a request costs one `None` check, no clock read and no label.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use crate::Error;
use crate::domain::envelope::codes;
use crate::ports::Metrics;

const SERVER_REQUESTS: &str = "aegis_rpc_server_requests_total";
const SERVER_DURATION: &str = "aegis_rpc_server_duration_seconds";
const SERVER_IN_FLIGHT: &str = "aegis_rpc_server_in_flight";
const CLIENT_CALLS: &str = "aegis_rpc_client_calls_total";
const CLIENT_ERRORS: &str = "aegis_rpc_client_errors_total";
const CLIENT_DURATION: &str = "aegis_rpc_client_duration_seconds";
const CLIENT_RETRIES: &str = "aegis_rpc_client_retries_total";

/// The `code` label of a reply: `"200"` for a success, else the error's code. The codes
/// aegis uses are static strings; another costs one small allocation.
pub(crate) fn code_label(error_code: Option<u16>) -> Cow<'static, str> {
    let Some(code) = error_code else {
        return Cow::Borrowed("200");
    };
    Cow::Borrowed(match code {
        codes::BAD_REQUEST => "400",
        codes::UNAUTHORIZED => "401",
        codes::FORBIDDEN => "403",
        codes::NOT_FOUND => "404",
        codes::PAYLOAD_TOO_LARGE => "413",
        codes::CANCELLED => "499",
        codes::INTERNAL => "500",
        codes::BAD_GATEWAY => "502",
        codes::NOT_ACTIVE => "503",
        codes::TIMEOUT => "504",
        other => return Cow::Owned(other.to_string()),
    })
}

/// The server side of one service.
#[derive(Clone)]
pub(crate) struct ServerMetrics {
    metrics: Arc<dyn Metrics>,
    service: &'static str,
}

impl ServerMetrics {
    /// `None` when `metrics` keeps nothing.
    pub(crate) fn new(metrics: &Arc<dyn Metrics>, service: &'static str) -> Option<Self> {
        metrics.enabled().then(|| ServerMetrics {
            metrics: Arc::clone(metrics),
            service,
        })
    }

    /// One request to `method` handled in `elapsed`, answered with `error_code` (`None`: success).
    pub(crate) fn request(&self, method: &str, error_code: Option<u16>, elapsed: Duration) {
        let code = code_label(error_code);
        let labels = [
            ("service", self.service),
            ("method", method),
            ("code", &*code),
        ];
        self.metrics.increment(SERVER_REQUESTS, &labels, 1);
        self.metrics
            .observe(SERVER_DURATION, &labels[..2], elapsed.as_secs_f64());
    }

    /// Handlers running now.
    pub(crate) fn in_flight(&self, running: usize) {
        let labels = [("service", self.service)];
        self.metrics
            .gauge(SERVER_IN_FLIGHT, &labels, running as f64);
    }
}

/// The client side of calls to one service.
#[derive(Clone)]
pub(crate) struct ClientMetrics {
    metrics: Arc<dyn Metrics>,
    service: &'static str,
}

impl ClientMetrics {
    /// `None` when `metrics` keeps nothing.
    pub(crate) fn new(metrics: &Arc<dyn Metrics>, service: &'static str) -> Option<Self> {
        metrics.enabled().then(|| ClientMetrics {
            metrics: Arc::clone(metrics),
            service,
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
        self.metrics.increment(CLIENT_CALLS, &labels, 1);
        self.metrics
            .observe(CLIENT_DURATION, &labels[..2], elapsed.as_secs_f64());
        if let Some(kind) = kind {
            let labels = [
                ("service", self.service),
                ("method", method),
                ("kind", kind),
            ];
            self.metrics.increment(CLIENT_ERRORS, &labels, 1);
        }
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
    use crate::ports::NoMetrics;

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
        assert!(ServerMetrics::new(&none, "svc").is_none());
        assert!(ClientMetrics::new(&none, "svc").is_none());
    }

    #[test]
    fn server_and_client_label_what_they_record() {
        let memory = Arc::new(InMemoryMetrics::new());
        let metrics: Arc<dyn Metrics> = memory.clone();
        let server = ServerMetrics::new(&metrics, "svc").expect("enabled");
        server.request("get", None, Duration::from_millis(2));
        server.request("get", Some(codes::NOT_FOUND), Duration::from_millis(4));
        server.in_flight(3);
        let client = ClientMetrics::new(&metrics, "svc").expect("enabled");
        let timeout = Error::Timeout {
            subject: "rpc.svc.get".into(),
            after: Duration::from_secs(1),
        };
        client.call("get", Ok(()), Duration::from_millis(1));
        client.call("get", Err(&timeout), Duration::from_secs(1));
        client.retry("get");

        let get = [("service", "svc"), ("method", "get")];
        let code = |c| [("service", "svc"), ("method", "get"), ("code", c)];
        assert_eq!(memory.counter(SERVER_REQUESTS, &code("200")), 1);
        assert_eq!(memory.counter(SERVER_REQUESTS, &code("404")), 1);
        let duration = memory.summary(SERVER_DURATION, &get).expect("observed");
        assert_eq!((duration.count, duration.max), (2, 0.004));
        assert_eq!(
            memory.gauge_value(SERVER_IN_FLIGHT, &[("service", "svc")]),
            Some(3.0)
        );
        let outcome = |o| [("service", "svc"), ("method", "get"), ("outcome", o)];
        assert_eq!(memory.counter(CLIENT_CALLS, &outcome("ok")), 1);
        assert_eq!(memory.counter(CLIENT_CALLS, &outcome("timeout")), 1);
        let kind = [("service", "svc"), ("method", "get"), ("kind", "timeout")];
        assert_eq!(memory.counter(CLIENT_ERRORS, &kind), 1);
        assert_eq!(memory.counter_total(CLIENT_ERRORS), 1);
        assert_eq!(
            memory.summary(CLIENT_DURATION, &get).map(|s| s.count),
            Some(2)
        );
        assert_eq!(memory.counter(CLIENT_RETRIES, &get), 1);
    }
}
