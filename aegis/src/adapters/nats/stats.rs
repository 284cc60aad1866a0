//! Connection events seen so far, counted for operators and components that must notice a
//! reconnect.

use std::sync::atomic::{AtomicU64, Ordering};

/// Connection events seen so far (each is also logged with `tracing`).
#[derive(Debug)]
pub struct ConnectionStats {
    /// Bumped on every (re)connect, for components that must re-establish server state.
    reconnected: tokio::sync::watch::Sender<u64>,
    connects: AtomicU64,
    disconnects: AtomicU64,
    slow_consumers: AtomicU64,
    lame_duck: AtomicU64,
    errors: AtomicU64,
    /// The last connection attempt refused for a reason retrying cannot fix.
    refused: tokio::sync::watch::Sender<Option<String>>,
}

impl Default for ConnectionStats {
    fn default() -> Self {
        ConnectionStats {
            reconnected: tokio::sync::watch::channel(0).0,
            connects: AtomicU64::default(),
            disconnects: AtomicU64::default(),
            slow_consumers: AtomicU64::default(),
            lame_duck: AtomicU64::default(),
            errors: AtomicU64::default(),
            refused: tokio::sync::watch::channel(None).0,
        }
    }
}

impl ConnectionStats {
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
                &self.connects
            }
            Event::Disconnected => {
                tracing::warn!("nats: disconnected");
                &self.disconnects
            }
            Event::SlowConsumer(sid) => {
                tracing::warn!(sid, "nats: slow consumer, messages dropped");
                &self.slow_consumers
            }
            Event::LameDuckMode => {
                tracing::warn!("nats: server entered lame duck mode");
                &self.lame_duck
            }
            Event::ClientError(async_nats::ClientError::Other(reason)) if is_refusal(reason) => {
                tracing::error!(%reason, "nats: connection refused");
                self.refused.send_replace(Some(reason.clone()));
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
        self.lame_duck.load(Ordering::Relaxed)
    }

    /// Server or client errors.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// Whether a failed connection attempt (async-nats's `ConnectErrorKind` as text) is one that
/// retrying cannot fix: refused credentials or a TLS failure (an untrusted certificate, TLS
/// required on one side only). A server that is not up yet is an IO error, and is retried.
fn is_refusal(reason: &str) -> bool {
    [
        "authorization violation",
        "failed signing nonce",
        "TLS error",
    ]
    .iter()
    .any(|refusal| reason.contains(refusal))
}
