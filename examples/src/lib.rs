//! Runnable examples for aegis (see the `[[example]]` entries), and the service definitions
//! that several of them share.

pub mod echo;
pub mod orders;
pub mod reports;
pub mod shop;

/// Logs to stderr, filtered by `RUST_LOG`, warnings and errors when it is not set (stdout
/// stays for the examples' own lines).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(tracing::level_filters::LevelFilter::WARN.into())
        .from_env_lossy();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
