//! Runnable examples for aegis (see the `[[example]]` entries), and the service definitions
//! that several of them share.

pub mod echo;
pub mod orders;
pub mod reports;
pub mod shop;

/// Logs to stderr, filtered by `RUST_LOG` (`warn`, `aegis=debug,info`, ...), warnings and
/// errors when it is not set (stdout stays for the examples' own lines). A target filter, not
/// `EnvFilter`: no regex engine in every example binary.
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing::level_filters::LevelFilter::WARN)
        });
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
}
