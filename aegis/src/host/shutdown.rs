//! When a process should stop its services: a signal from whoever runs it, or the server
//! announcing that it is going away (NATS lame-duck mode).

use std::fmt;

use tokio::sync::watch;

use crate::Backend;

/// Why a process was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shutdown {
    /// SIGINT, or Ctrl-C.
    Interrupt,
    /// SIGTERM (Unix; what `kill`, systemd and Kubernetes send).
    Terminate,
    /// The server entered lame-duck mode: it is shutting down and will close this connection.
    LameDuck,
    /// The service was stopped some other way ([`ServiceHandle::stop`](crate::ServiceHandle::stop)).
    Stopped,
}

impl fmt::Display for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Shutdown::Interrupt => "interrupted (SIGINT or Ctrl-C)",
            Shutdown::Terminate => "terminated (SIGTERM)",
            Shutdown::LameDuck => "the server entered lame-duck mode",
            Shutdown::Stopped => "stopped",
        })
    }
}

/// Resolves when the process is asked to stop: SIGINT or SIGTERM on Unix, Ctrl-C elsewhere,
/// or a lame-duck notice from `backend`'s server. For a process that runs several services
/// and stops them together; a single service has
/// [`ServiceHandle::run_until_shutdown`](crate::ServiceHandle::run_until_shutdown).
///
/// # Errors
///
/// The signal handlers could not be installed.
pub async fn shutdown_requested(backend: &Backend) -> std::io::Result<Shutdown> {
    requested(backend.bus().lame_duck_notices()).await
}

pub(crate) async fn requested(
    lame_duck: Option<watch::Receiver<u64>>,
) -> std::io::Result<Shutdown> {
    let lame_duck = async move {
        // A closed channel (the connection's accounting gone) never announces anything.
        if let Some(mut notices) = lame_duck
            && notices.changed().await.is_ok()
        {
            return;
        }
        std::future::pending().await
    };
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.map(|()| Shutdown::Interrupt),
        terminated = terminate() => terminated.map(|()| Shutdown::Terminate),
        () = lame_duck => Ok(Shutdown::LameDuck),
    }
}

#[cfg(unix)]
async fn terminate() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::terminate())?.recv().await;
    Ok(())
}

#[cfg(not(unix))]
async fn terminate() -> std::io::Result<()> {
    std::future::pending().await
}
