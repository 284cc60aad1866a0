//! Metrics scenarios (`tests/metrics_memory.rs`): what the RPC server and client record, by
//! name and labels, after calls that succeed and fail.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::time::Duration;

use aegis::adapters::memory::{InMemoryMetrics, LabelSet};
use aegis::{Backend, Error, RetryPolicy, RpcError, ServiceConfig};
use serde::{Deserialize, Serialize};

use crate::events::DEADLINE;
use crate::rpc::{self, EchoServiceClient, hello};

/// `echo`'s request with `message` of the wrong type: the server cannot decode it (400).
#[derive(Debug, Serialize, Deserialize)]
pub struct Misfit {
    /// Should be a string.
    pub message: u32,
}

/// A caller whose idea of `echo-service` is wrong; never started, only its client is used.
#[derive(Debug, Default)]
pub struct MisfitEcho;

#[aegis::service(name = "echo-service", version = "1.0.0")]
impl MisfitEcho {
    /// `echo` with the wrong params.
    #[rpc]
    async fn echo(&self, req: Misfit) -> Result<u32, RpcError> {
        Ok(req.message)
    }
}

/// A service that no instance serves; only its client is used.
#[derive(Debug, Default)]
pub struct Nobody;

#[aegis::service(name = "nobody", version = "1.0.0")]
impl Nobody {
    /// Never answered.
    #[rpc]
    async fn ping(&self) -> Result<(), RpcError> {
        Ok(())
    }
}

/// `labels` as [`InMemoryMetrics`] lists them (sorted by name), with `value`.
fn series<T>(labels: &[(&str, &str)], value: T) -> (LabelSet, T) {
    let mut set: LabelSet = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    set.sort();
    (set, value)
}

/// Every series of the counter `name`, sorted.
fn counters(metrics: &InMemoryMetrics, name: &str) -> Vec<(LabelSet, u64)> {
    metrics.counters(name)
}

/// The same, `expected` sorted the same way.
fn sorted(mut expected: Vec<(LabelSet, u64)>) -> Vec<(LabelSet, u64)> {
    expected.sort();
    expected
}

/// Calls that succeed (`echo`, `hold`) and fail (404 `fail`, 500 `boom`, 400 on a misfit
/// request, no responders after 2 retries): server requests by code, client calls by outcome
/// and errors by kind, exact; a duration per call; the in-flight gauge up while `hold` runs
/// and back to 0.
pub async fn rpc_metrics_count_every_outcome_by_label(
    backend: &Backend,
    metrics: &InMemoryMetrics,
) {
    let (service, handle) = rpc::start(backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(backend);
    for _ in 0..3 {
        client.echo(hello()).await.expect("echo");
    }
    for _ in 0..2 {
        let error = client.fail().await.expect_err("fail fails");
        assert!(
            matches!(error, Error::Remote { code: 404, .. }),
            "{error:?}"
        );
    }
    let error = client.boom().await.expect_err("boom panics");
    assert!(
        matches!(error, Error::Remote { code: 500, .. }),
        "{error:?}"
    );
    let error = MisfitEchoClient::new(backend)
        .echo(Misfit { message: 7 })
        .await
        .expect_err("a misfit request");
    assert!(matches!(error, Error::BadRequest { .. }), "{error:?}");
    let quick = RetryPolicy {
        max_attempts: 3,
        initial_delay_ms: 1,
        max_delay_ms: 1,
        ..RetryPolicy::default()
    };
    let error = NobodyClient::new(backend)
        .with_retry(quick)
        .ping()
        .await
        .expect_err("nobody answers");
    assert!(matches!(error, Error::NoResponders { .. }), "{error:?}");

    // While `hold` runs, one handler is in flight.
    let in_flight =
        || metrics.gauge_value("aegis_rpc_server_in_flight", &[("service", "echo-service")]);
    let held = tokio::spawn({
        let client = client.clone();
        async move { client.hold().await }
    });
    tokio::time::timeout(DEADLINE, service.entered.notified())
        .await
        .expect("hold started");
    assert_eq!(in_flight(), Some(1.0));
    service.release.notify_one();
    held.await.unwrap().expect("hold returns");
    // The loop counts the handler out once its future is done, just after the reply left.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while in_flight() != Some(0.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "in flight: {:?}",
            in_flight()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    handle.stop().await.expect("stops");

    let server = |method, code| {
        [
            ("service", "echo-service"),
            ("method", method),
            ("code", code),
        ]
    };
    assert_eq!(
        counters(metrics, "aegis_rpc_server_requests_total"),
        sorted(vec![
            series(&server("echo", "200"), 3),
            series(&server("echo", "400"), 1),
            series(&server("fail", "404"), 2),
            series(&server("boom", "500"), 1),
            series(&server("hold", "200"), 1),
        ])
    );
    let durations: Vec<(LabelSet, u64)> = metrics
        .summaries("aegis_rpc_server_duration_seconds")
        .into_iter()
        .map(|(labels, summary)| (labels, summary.count))
        .collect();
    let method = |method| [("service", "echo-service"), ("method", method)];
    assert_eq!(
        durations,
        sorted(vec![
            series(&method("echo"), 4),
            series(&method("fail"), 2),
            series(&method("boom"), 1),
            series(&method("hold"), 1),
        ])
    );

    let call = |service, method, outcome| {
        [
            ("service", service),
            ("method", method),
            ("outcome", outcome),
        ]
    };
    assert_eq!(
        counters(metrics, "aegis_rpc_client_calls_total"),
        sorted(vec![
            series(&call("echo-service", "echo", "ok"), 3),
            series(&call("echo-service", "echo", "bad_request"), 1),
            series(&call("echo-service", "fail", "remote"), 2),
            series(&call("echo-service", "boom", "remote"), 1),
            series(&call("echo-service", "hold", "ok"), 1),
            series(&call("nobody", "ping", "no_responders"), 1),
        ])
    );
    let error = |service, method, kind| [("service", service), ("method", method), ("kind", kind)];
    assert_eq!(
        counters(metrics, "aegis_rpc_client_errors_total"),
        sorted(vec![
            series(&error("echo-service", "echo", "bad_request"), 1),
            series(&error("echo-service", "fail", "remote"), 2),
            series(&error("echo-service", "boom", "remote"), 1),
            series(&error("nobody", "ping", "no_responders"), 1),
        ])
    );
    assert_eq!(
        counters(metrics, "aegis_rpc_client_retries_total"),
        [series(&[("service", "nobody"), ("method", "ping")], 2)]
    );
    let calls: u64 = metrics
        .summaries("aegis_rpc_client_duration_seconds")
        .iter()
        .map(|(_, summary)| summary.count)
        .sum();
    assert_eq!(calls, 3 + 1 + 2 + 1 + 1 + 1, "one duration per call");
}
