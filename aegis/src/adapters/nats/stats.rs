//! Connection events seen so far, counted for operators and components that must notice a
//! reconnect.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::denials::{Denial, DenialLog};
use crate::Error;
use crate::ports::Metrics;

/// Connection events seen so far (each is also logged with `tracing`).
#[derive(Debug)]
pub struct ConnectionStats {
    /// Bumped on every (re)connect, for components that must re-establish server state.
    reconnected: tokio::sync::watch::Sender<u64>,
    connects: AtomicU64,
    disconnects: AtomicU64,
    slow_consumers: AtomicU64,
    lame_duck: tokio::sync::watch::Sender<u64>,
    errors: AtomicU64,
    /// The last connection attempt refused for a reason retrying cannot fix.
    refused: tokio::sync::watch::Sender<Option<String>>,
    /// Operations the server refused for lack of permission, as it reports them.
    denied: Arc<DenialLog>,
    /// Where reconnects and disconnects are counted too (`NatsOptions::metrics`).
    metrics: Reported,
}

/// The metrics connection events go to, if any.
#[derive(Default)]
struct Reported(Option<Arc<dyn Metrics>>);

impl std::fmt::Debug for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

impl Default for ConnectionStats {
    fn default() -> Self {
        ConnectionStats {
            reconnected: tokio::sync::watch::channel(0).0,
            connects: AtomicU64::default(),
            disconnects: AtomicU64::default(),
            slow_consumers: AtomicU64::default(),
            lame_duck: tokio::sync::watch::channel(0).0,
            errors: AtomicU64::default(),
            refused: tokio::sync::watch::channel(None).0,
            denied: Arc::default(),
            metrics: Reported::default(),
        }
    }
}

impl ConnectionStats {
    /// No events yet; reconnects and disconnects also counted in `metrics`, if given.
    pub(crate) fn new(metrics: Option<Arc<dyn Metrics>>) -> Self {
        ConnectionStats {
            metrics: Reported(metrics.filter(|m| m.enabled())),
            ..ConnectionStats::default()
        }
    }

    fn count(&self, name: &'static str) {
        if let Some(metrics) = &self.metrics.0 {
            metrics.increment(name, &[], 1);
        }
    }

    /// A receiver that changes on every (re)connect.
    pub(crate) fn reconnects(&self) -> tokio::sync::watch::Receiver<u64> {
        self.reconnected.subscribe()
    }

    pub(super) fn record(&self, event: &async_nats::Event) {
        use async_nats::Event;
        let counter = match event {
            Event::Connected => {
                tracing::info!("nats: connected");
                self.reconnected.send_modify(|n| *n += 1);
                if self.connects.load(Ordering::Relaxed) > 0 {
                    self.count("aegis_nats_reconnects_total");
                }
                &self.connects
            }
            Event::Disconnected => {
                tracing::warn!("nats: disconnected");
                self.count("aegis_nats_disconnects_total");
                &self.disconnects
            }
            Event::SlowConsumer(sid) => {
                tracing::warn!(sid, "nats: slow consumer, messages dropped");
                &self.slow_consumers
            }
            Event::LameDuckMode => {
                tracing::warn!("nats: server entered lame duck mode");
                self.lame_duck.send_modify(|n| *n += 1);
                return;
            }
            Event::ClientError(async_nats::ClientError::Other(reason)) if is_refusal(reason) => {
                tracing::error!(%reason, "nats: connection refused");
                self.refused.send_replace(Some(reason.clone()));
                &self.errors
            }
            Event::ServerError(async_nats::ServerError::Other(text)) => {
                match Denial::parse(text) {
                    Some(denial) => {
                        tracing::error!(
                            operation = denial.operation,
                            subject = %denial.subject,
                            "nats: permission denied by the server"
                        );
                        self.denied.record(denial);
                    }
                    None => tracing::warn!(error = %text, "nats: server error"),
                }
                &self.errors
            }
            other => {
                tracing::warn!(event = %other, "nats: connection event");
                &self.errors
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Changes when a connection attempt is refused for a reason retrying cannot fix
    /// (authorization, credentials, TLS).
    pub(crate) fn refusals(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.refused.subscribe()
    }

    /// Resolves with [`Error::PermissionDenied`] when the server refuses a publish to
    /// `subject` (or a reply subject of this connection). Listens from this call on: make it before sending.
    pub(crate) fn publish_denied<S: AsRef<str> + Send + 'static>(
        &self,
        subject: S,
    ) -> impl Future<Output = Error> + use<S> {
        self.denied.refusal(subject)
    }

    /// `work` (a publish to `subject` and what follows it), failing at once with
    /// [`Error::PermissionDenied`] if the server refuses the publish: it says so on the
    /// connection, and `work` would wait out its timeout.
    pub(crate) async fn unless_denied<T, S: AsRef<str> + Send + 'static>(
        &self,
        subject: S,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        // Listening before `work` is first polled, so before it sends.
        let denied = self.publish_denied(subject);
        tokio::select! {
            biased;
            done = work => done,
            error = denied => Err(error),
        }
    }

    /// Successful (re)connections.
    pub fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// Lost connections.
    pub fn disconnects(&self) -> u64 {
        self.disconnects.load(Ordering::Relaxed)
    }

    /// Slow-consumer events (messages dropped by the client).
    pub fn slow_consumers(&self) -> u64 {
        self.slow_consumers.load(Ordering::Relaxed)
    }

    /// Lame-duck notices from the server.
    pub fn lame_duck(&self) -> u64 {
        *self.lame_duck.borrow()
    }

    /// A receiver that changes on every lame-duck notice.
    pub(crate) fn lame_duck_notices(&self) -> tokio::sync::watch::Receiver<u64> {
        self.lame_duck.subscribe()
    }

    /// Server or client errors.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// Whether a failed connection attempt (async-nats's `ConnectError` as text, with its source
/// since the patch in `patches/async-nats`) is one that retrying cannot fix: refused
/// credentials or a TLS failure (an untrusted certificate, a client certificate refused or
/// missing, TLS required on one side only). A server that is not up yet is an IO error
/// without those words, and is retried.
fn is_refusal(reason: &str) -> bool {
    [
        "authorization violation",
        "failed signing nonce",
        "TLS error",
        // A failed handshake: the server's certificate is not trusted, or the server
        // refused ours (or wanted one).
        "invalid peer certificate",
        "received fatal alert",
    ]
    .iter()
    .any(|refusal| reason.contains(refusal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_after_the_first_count_as_reconnects() {
        use crate::adapters::memory::InMemoryMetrics;
        let metrics = Arc::new(InMemoryMetrics::new());
        let stats = ConnectionStats::new(Some(metrics.clone()));
        for event in [
            async_nats::Event::Connected,
            async_nats::Event::Disconnected,
            async_nats::Event::Connected,
            async_nats::Event::Disconnected,
            async_nats::Event::Connected,
        ] {
            stats.record(&event);
        }
        assert_eq!((stats.connects(), stats.disconnects()), (3, 2));
        assert_eq!(metrics.counter("aegis_nats_reconnects_total", &[]), 2);
        assert_eq!(metrics.counter("aegis_nats_disconnects_total", &[]), 2);
    }
}
