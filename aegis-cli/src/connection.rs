//! The connection flags, and the connection.

use aegis::Backend;
use aegis::adapters::nats::NatsOptions;
use anyhow::Context as _;

/// Where the fleet is.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Connection {
    /// The NATS server URL(s), comma-separated [default: nats://127.0.0.1:4222]
    ///
    /// Without it, `NATS_CONTEXT`'s server, if set. Credentials and TLS come from the
    /// environment, as for every aegis program: `NATS_CREDS`, `NATS_NKEY`, `NATS_TOKEN`,
    /// `NATS_USER` and `NATS_PASSWORD`, `NATS_CA`, `NATS_CERT` and `NATS_KEY`,
    /// `NATS_TLS_FIRST`, `NATS_CONTEXT`.
    // The URL may hold a password: `--help` does not show its value.
    #[arg(
        long,
        short = 's',
        global = true,
        value_name = "URL",
        env = "NATS_URL",
        hide_env_values = true
    )]
    server: Option<String>,
}

impl Connection {
    /// Connects once (no retry: an operator wants to hear at once that the server is away).
    pub(crate) async fn connect(&self) -> anyhow::Result<Backend> {
        let options = NatsOptions::from_lookup(|name| match name {
            "NATS_URL" => self.server.clone(),
            other => std::env::var(other).ok(),
        });
        options
            .name("aegis-cli")
            .retry_initial_connect(false)
            .connect()
            .await
            .context("cannot connect to NATS")
    }
}
