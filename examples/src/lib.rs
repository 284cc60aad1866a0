//! Runnable examples for aegis (see the `[[example]]` entries), and the service definitions
//! that several of them share.

pub mod echo;
pub mod orders;
pub mod reports;
pub mod shop;

/// Logs to stderr, filtered by `RUST_LOG` (stdout stays for the examples' own lines).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}

/// Resolves on SIGINT or SIGTERM: when a long-running example should stop gracefully.
pub async fn shutdown_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted,
        _ = terminate.recv() => Ok(()),
    }
}
