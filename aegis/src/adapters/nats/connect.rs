//! Connection options and connection-event accounting.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::error::transport;
use super::placement::{Placement, Storage};
use super::stats::ConnectionStats;
use super::{NatsBus, NatsKvBuckets, NatsStreams};
use crate::backend::Backend;
use crate::ports::SystemClock;
use crate::{Error, Result};

/// The server used when neither `NATS_URL` nor an explicit URL is given.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

#[derive(Debug, Clone)]
enum Auth {
    None,
    UserPassword(String, String),
    Token(String),
    NKey(String),
    CredentialsFile(PathBuf),
}

/// How to connect to NATS. Defaults: ping every 5 s, reconnect forever with jittered
/// exponential backoff (up to 5 s), keep retrying the first connect too.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    url: String,
    name: Option<String>,
    auth: Auth,
    root_certificates: Vec<PathBuf>,
    client_certificate: Option<(PathBuf, PathBuf)>,
    require_tls: bool,
    ping_interval: Duration,
    retry_initial_connect: bool,
    max_reconnect_delay: Duration,
    placement: Placement,
    /// A setting from the environment that does not parse, reported by `connect`.
    invalid_env: Option<String>,
}

impl NatsOptions {
    /// Options for `url` (comma-separated for several servers).
    pub fn new(url: impl Into<String>) -> Self {
        NatsOptions {
            url: url.into(),
            name: None,
            auth: Auth::None,
            root_certificates: Vec::new(),
            client_certificate: None,
            require_tls: false,
            ping_interval: Duration::from_secs(5),
            retry_initial_connect: true,
            max_reconnect_delay: Duration::from_secs(5),
            placement: Placement::default(),
            invalid_env: None,
        }
    }

    /// Options for `$NATS_URL` (one URL or a comma-separated list), or
    /// `nats://127.0.0.1:4222` when unset; `$AEGIS_REPLICAS` (`auto` or 1 to 5) and
    /// `$AEGIS_STORAGE` (`file` or `memory`) place what aegis creates (see
    /// [`replicas`](Self::replicas)).
    pub fn from_env() -> Self {
        let mut options =
            Self::new(std::env::var("NATS_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned()));
        if let Ok(replicas) = std::env::var("AEGIS_REPLICAS") {
            match Placement::parse_replicas(&replicas) {
                Ok(replicas) => options.placement.replicas = replicas,
                Err(error) => options.invalid_env = Some(format!("AEGIS_REPLICAS: {error}")),
            }
        }
        if let Ok(storage) = std::env::var("AEGIS_STORAGE") {
            match storage.parse::<Storage>() {
                Ok(storage) => options.placement.storage = storage,
                Err(error) => options.invalid_env = Some(format!("AEGIS_STORAGE: {error}")),
            }
        }
        options
    }

    /// How many replicas the streams and buckets aegis creates get (`EVENTS`, `COMMANDS`,
    /// `DEAD_LETTERS`, `service_registry`, `election_{service}`): 1 to 5. Default: 1 on a
    /// single server, the cluster's size up to 3 on a cluster. Existing ones are used as
    /// they are (with a warning when they have fewer replicas).
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.placement.replicas = Some(replicas);
        self
    }

    /// Where JetStream keeps what aegis creates (default: [`Storage::File`]).
    pub fn storage(mut self, storage: Storage) -> Self {
        self.placement.storage = storage;
        self
    }

    /// The client name shown by the server (`nats server report connections`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Authenticates with user and password.
    pub fn user_password(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Auth::UserPassword(user.into(), password.into());
        self
    }

    /// Authenticates with a token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::Token(token.into());
        self
    }

    /// Authenticates with an NKey seed.
    pub fn nkey(mut self, seed: impl Into<String>) -> Self {
        self.auth = Auth::NKey(seed.into());
        self
    }

    /// Authenticates with a `.creds` file (JWT + NKey).
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.auth = Auth::CredentialsFile(path.into());
        self
    }

    /// Trusts the CA certificates in `path` (PEM).
    pub fn root_certificates(mut self, path: impl Into<PathBuf>) -> Self {
        self.root_certificates.push(path.into());
        self
    }

    /// Presents a client certificate (mutual TLS).
    pub fn client_certificate(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_certificate = Some((cert.into(), key.into()));
        self
    }

    /// Refuses to connect without TLS.
    pub fn require_tls(mut self, required: bool) -> Self {
        self.require_tls = required;
        self
    }

    /// How often the client pings the server (a dead connection is noticed after two misses).
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// Whether `connect` keeps trying while the server is unreachable (default) or fails.
    pub fn retry_initial_connect(mut self, retry: bool) -> Self {
        self.retry_initial_connect = retry;
        self
    }

    /// Connects and returns a backend: the NATS bus, JetStream KV and streams, the system
    /// clock.
    pub async fn connect(self) -> Result<Backend> {
        let (bus, kv) = self.connect_parts().await?;
        let streams = NatsStreams::new(&bus);
        Ok(
            Backend::from_parts(Arc::new(bus), Arc::new(kv), Arc::new(SystemClock))
                .with_streams(Arc::new(streams)),
        )
    }

    /// Connects and returns the adapters themselves ([`NatsStreams::new`] adds streams on the
    /// same connection).
    pub async fn connect_parts(self) -> Result<(NatsBus, NatsKvBuckets)> {
        if let Some(invalid) = &self.invalid_env {
            return Err(Error::invalid("environment", invalid.clone()));
        }
        if let Some(replicas) = self.placement.replicas {
            Placement::check_replicas(replicas)?;
        }
        let stats = Arc::new(ConnectionStats::default());
        let mut options = match &self.auth {
            Auth::None => async_nats::ConnectOptions::new(),
            Auth::UserPassword(user, password) => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
            Auth::Token(token) => async_nats::ConnectOptions::with_token(token.clone()),
            Auth::NKey(seed) => async_nats::ConnectOptions::with_nkey(seed.clone()),
            Auth::CredentialsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| transport("reading credentials", e))?,
        };
        if let Some(name) = &self.name {
            options = options.name(name);
        }
        for path in &self.root_certificates {
            options = options.add_root_certificates(path.clone());
        }
        if let Some((cert, key)) = &self.client_certificate {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        let max_delay = self.max_reconnect_delay;
        options = options
            .require_tls(self.require_tls)
            .ping_interval(self.ping_interval)
            .max_reconnects(None)
            .reconnect_delay_callback(move |attempts| reconnect_delay(attempts, max_delay))
            .event_callback({
                let stats = Arc::clone(&stats);
                move |event| {
                    stats.record(&event);
                    async {}
                }
            });
        if self.retry_initial_connect {
            options = options.retry_on_initial_connect();
        }
        let servers = server_list(&self.url)?;
        let client = options
            .connect(servers.as_slice())
            .await
            .map_err(|e| transport(&format!("connecting to {}", self.url), e))?;
        let bus = NatsBus::new(client.clone(), Arc::clone(&stats), self.placement);
        let kv = NatsKvBuckets::new(client, stats.reconnects(), self.placement);
        Ok((bus, kv))
    }
}

/// Exponential backoff from 50 ms, capped, with ±50 % jitter so that a fleet does not
/// reconnect in lockstep.
fn reconnect_delay(attempts: usize, max: Duration) -> Duration {
    let exponent = u32::try_from(attempts.min(16)).unwrap_or(16);
    let base = Duration::from_millis(50)
        .saturating_mul(1 << exponent)
        .min(max);
    base.mul_f64(0.5 + rand::random::<f64>())
}

/// The servers of `urls`: one URL, or several separated by commas (a cluster's nodes, as
/// `NATS_URL` lists them), each checked here so that a typo names its entry.
fn server_list(urls: &str) -> Result<Vec<async_nats::ServerAddr>> {
    let servers = urls
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| {
            url.parse::<async_nats::ServerAddr>()
                .map_err(|error| Error::invalid("NATS server URL", format!("`{url}`: {error}")))
        })
        .collect::<Result<Vec<_>>>()?;
    if servers.is_empty() {
        return Err(Error::invalid("NATS server URL", "no server given"));
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comma_separated_list_is_every_server_of_a_cluster() {
        let servers = server_list("nats://127.0.0.1:4222, nats://127.0.0.1:4223,127.0.0.1:4224,")
            .expect("three servers");
        let ports: Vec<u16> = servers.iter().map(|s| s.port()).collect();
        assert_eq!(ports, [4222, 4223, 4224]);
        assert_eq!(server_list("nats://127.0.0.1:4222").expect("one").len(), 1);
    }

    #[test]
    fn a_bad_entry_is_named() {
        let error =
            server_list("nats://127.0.0.1:4222,nats://127.0.0.1:notaport").expect_err("bad port");
        assert!(error.to_string().contains("notaport"), "{error}");
        assert!(server_list(" , ").is_err());
    }

    #[test]
    fn reconnect_delay_grows_is_capped_and_jittered() {
        let max = Duration::from_secs(5);
        for attempts in 0..40 {
            let d = reconnect_delay(attempts, max);
            assert!(d <= max.mul_f64(1.5), "{attempts}: {d:?}");
            assert!(d >= Duration::from_millis(25), "{attempts}: {d:?}");
        }
        assert!(reconnect_delay(30, max) >= Duration::from_millis(2500));
    }
}
