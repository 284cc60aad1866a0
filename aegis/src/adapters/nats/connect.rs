//! Connection options and connection-event accounting.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::context::Context;
use super::error::transport;
use super::placement::{Placement, Storage};
use super::stats::ConnectionStats;
use super::{NatsBus, NatsKvBuckets, NatsStreams};
use crate::backend::Backend;
use crate::ports::{Metrics, SystemClock};
use crate::{Error, Result};

/// The server used when neither `NATS_URL` nor an explicit URL is given.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

#[derive(Clone)]
enum Auth {
    None,
    UserPassword(String, String),
    Token(String),
    NKey(String),
    CredentialsFile(PathBuf),
}

/// Names the kind of authentication, never the secret.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::UserPassword(user, _) => write!(f, "UserPassword({user:?}, <redacted>)"),
            Auth::Token(_) => f.write_str("Token(<redacted>)"),
            Auth::NKey(_) => f.write_str("NKey(<redacted>)"),
            Auth::CredentialsFile(path) => write!(f, "CredentialsFile({path:?})"),
        }
    }
}

/// How to connect to NATS. Defaults: ping every 5 s, reconnect forever with jittered
/// exponential backoff (up to 5 s), keep retrying the first connect too.
///
/// `Debug` output and errors never show a password, token or seed (URLs are shown with
/// their password replaced).
#[derive(Clone)]
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
    tls_first: bool,
    /// Where the backend and the connection's own events report (nowhere by default).
    metrics: Option<Arc<dyn Metrics>>,
}

impl std::fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsOptions")
            .field("url", &redact_url(&self.url))
            .field("name", &self.name)
            .field("auth", &self.auth)
            .field("root_certificates", &self.root_certificates)
            .field("client_certificate", &self.client_certificate)
            .field("require_tls", &self.require_tls)
            .field("tls_first", &self.tls_first)
            .field("ping_interval", &self.ping_interval)
            .field("retry_initial_connect", &self.retry_initial_connect)
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
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
            tls_first: false,
            metrics: None,
        }
    }

    /// Options from the environment (the names natscli and the NATS clients use):
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `NATS_URL` | one URL or a comma-separated list (default `nats://127.0.0.1:4222`); `nats://user:password@host` or `nats://token@host` authenticate |
    /// | `NATS_USER`, `NATS_PASSWORD` | user and password |
    /// | `NATS_TOKEN` | a token |
    /// | `NATS_CREDS` | a `.creds` file (JWT and NKey seed) |
    /// | `NATS_NKEY` | a file holding an NKey seed |
    /// | `NATS_CA` | a PEM file of CA certificates to trust |
    /// | `NATS_CERT`, `NATS_KEY` | a client certificate and its key (mutual TLS) |
    /// | `NATS_TLS_FIRST` | `true`: TLS handshake before the server's INFO |
    /// | `NATS_CONTEXT` | a natscli context: its name (`~/.config/nats/context/NAME.json`, or under `$XDG_CONFIG_HOME`) or a path to its `.json` file; the variables above override its settings |
    /// | `AEGIS_REPLICAS` | `auto` or 1 to 5: see [`replicas`](Self::replicas) |
    /// | `AEGIS_STORAGE` | `file` or `memory`: see [`storage`](Self::storage) |
    ///
    /// The first set of `NATS_CREDS`, `NATS_NKEY`, `NATS_TOKEN`, `NATS_USER` wins, over
    /// credentials in the URL. A setting that does not parse, and a context that cannot be
    /// read or that sets what aegis does not support (a JetStream domain or API prefix, an
    /// inbox prefix, a credential URI other than `file://`), are reported by `connect`.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read by `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let env = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let (context, context_error) = match env("NATS_CONTEXT") {
            Some(name) => match Context::load(&name, &env) {
                Ok(context) => (Some(context), None),
                Err(error) => (None, Some(error)),
            },
            None => (None, None),
        };
        // A variable set in the environment wins over the context's setting.
        let lookup = |name: &str| {
            env(name).or_else(|| context.as_ref()?.setting(name, &|n| env(n).is_some()))
        };
        let mut options = Self::from_settings(&lookup);
        if context_error.is_some() {
            options.invalid_env = context_error;
        }
        options
    }

    fn from_settings(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut options = Self::new(lookup("NATS_URL").unwrap_or_else(|| DEFAULT_URL.to_owned()));
        if let Some(path) = lookup("NATS_CREDS") {
            options.auth = Auth::CredentialsFile(path.into());
        } else if let Some(path) = lookup("NATS_NKEY") {
            match std::fs::read_to_string(&path) {
                Ok(seed) => options.auth = Auth::NKey(seed.trim().to_owned()),
                Err(error) => {
                    options.invalid_env = Some(format!("NATS_NKEY: cannot read `{path}`: {error}"));
                }
            }
        } else if let Some(token) = lookup("NATS_TOKEN") {
            options.auth = Auth::Token(token);
        } else if let Some(user) = lookup("NATS_USER") {
            options.auth = Auth::UserPassword(user, lookup("NATS_PASSWORD").unwrap_or_default());
        }
        if let Some(ca) = lookup("NATS_CA") {
            options.root_certificates.push(ca.into());
        }
        match (lookup("NATS_CERT"), lookup("NATS_KEY")) {
            (Some(cert), Some(key)) => options.client_certificate = Some((cert.into(), key.into())),
            (None, None) => {}
            _ => {
                options.invalid_env =
                    Some("NATS_CERT and NATS_KEY: set both or neither".to_owned());
            }
        }
        if let Some(first) = lookup("NATS_TLS_FIRST") {
            match first.parse::<bool>() {
                Ok(first) => options.tls_first = first,
                Err(_) => {
                    options.invalid_env = Some(format!(
                        "NATS_TLS_FIRST: `{first}` is not `true` or `false`"
                    ));
                }
            }
        }
        if let Some(replicas) = lookup("AEGIS_REPLICAS") {
            match Placement::parse_replicas(&replicas) {
                Ok(replicas) => options.placement.replicas = replicas,
                Err(error) => options.invalid_env = Some(format!("AEGIS_REPLICAS: {error}")),
            }
        }
        if let Some(storage) = lookup("AEGIS_STORAGE") {
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

    /// Starts TLS before the server's INFO (servers configured with `handshake_first`).
    pub fn tls_first(mut self, first: bool) -> Self {
        self.tls_first = first;
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

    /// Reports metrics to `metrics`: the backend's, as [`Backend::with_metrics`] would set
    /// them, and the connection's own (`aegis_nats_reconnects_total`,
    /// `aegis_nats_disconnects_total`), which only this option reaches.
    pub fn metrics(mut self, metrics: Arc<dyn Metrics>) -> Self {
        self.metrics = Some(metrics);
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
        let metrics = self.metrics.clone();
        let (bus, kv) = self.connect_parts().await?;
        let streams = NatsStreams::new(&bus);
        let backend = Backend::from_parts(Arc::new(bus), Arc::new(kv), Arc::new(SystemClock))
            .with_streams(Arc::new(streams));
        Ok(match metrics {
            Some(metrics) => backend.with_metrics(metrics),
            None => backend,
        })
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
        let stats = Arc::new(ConnectionStats::new(self.metrics.clone()));
        let servers = server_list(&self.url)?;
        // async-nats does not authenticate with credentials written in the URL by itself.
        let auth = match (&self.auth, url_credentials(&servers)) {
            (Auth::None, Some(from_url)) => from_url,
            (auth, _) => auth.clone(),
        };
        // async-nats logs server addresses at debug level, and would show the password.
        let servers = servers
            .into_iter()
            .map(without_credentials)
            .collect::<Result<Vec<_>>>()?;
        let mut options = match &auth {
            Auth::None => async_nats::ConnectOptions::new(),
            Auth::UserPassword(user, password) => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
            }
            Auth::Token(token) => async_nats::ConnectOptions::with_token(token.clone()),
            Auth::NKey(seed) => async_nats::ConnectOptions::with_nkey(seed.clone()),
            Auth::CredentialsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| {
                    Error::invalid("credentials file", format!("`{}`: {e}", path.display()))
                })?,
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
        if self.tls_first {
            options = options.tls_first();
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
        let client = options
            .connect(servers.as_slice())
            .await
            .map_err(|e| transport(&format!("connecting to {}", redact_url(&self.url)), e))?;
        if self.retry_initial_connect {
            wait_for_first_connection(&stats, &redact_url(&self.url)).await?;
        }
        let bus = NatsBus::new(client.clone(), Arc::clone(&stats), self.placement);
        let kv = NatsKvBuckets::new(client, Arc::clone(&stats), self.placement);
        Ok((bus, kv))
    }
}

/// Waits while the first connection is being made (the client retries in the background):
/// until it is made, or an attempt is refused for a reason retrying cannot fix, which is
/// returned at once. A server that is not up yet is waited for, said in the log after 1 s and
/// every 5 s after that.
async fn wait_for_first_connection(stats: &ConnectionStats, url: &str) -> Result<()> {
    let mut connects = stats.reconnects();
    let mut refusals = stats.refusals();
    let started = tokio::time::Instant::now();
    let mut next_warning = started + Duration::from_secs(1);
    loop {
        if *connects.borrow_and_update() > 0 {
            return Ok(());
        }
        if let Some(reason) = refusals.borrow_and_update().clone() {
            return Err(Error::Transport(format!(
                "connecting to {url}: refused: {reason} (check the credentials and TLS settings)"
            )));
        }
        tokio::select! {
            _ = connects.changed() => {}
            _ = refusals.changed() => {}
            () = tokio::time::sleep_until(next_warning) => {
                tracing::warn!(
                    url,
                    waited_s = started.elapsed().as_secs(),
                    "NATS is not reachable yet; still trying"
                );
                next_warning += Duration::from_secs(5);
            }
        }
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

/// The credentials written in the first URL that has any: `user:password@` or `token@`.
fn url_credentials(servers: &[async_nats::ServerAddr]) -> Option<Auth> {
    servers.iter().find_map(|server| {
        let user = server.username().filter(|u| !u.is_empty())?;
        Some(match server.password() {
            Some(password) => Auth::UserPassword(percent_decode(user), percent_decode(password)),
            None => Auth::Token(percent_decode(user)),
        })
    })
}

/// `server` without the user and password written in its URL (taken as `Auth` already).
fn without_credentials(server: async_nats::ServerAddr) -> Result<async_nats::ServerAddr> {
    if server.username().is_none_or(str::is_empty) && server.password().is_none() {
        return Ok(server);
    }
    let mut url = server.into_inner();
    // Only URLs that cannot have credentials refuse these, and those were refused above.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    async_nats::ServerAddr::from_url(url)
        .map_err(|error| Error::invalid("NATS server URL", error.to_string()))
}

/// `%XX` escapes decoded (a password may hold `@` or `:` written as `%40`, `%3A`).
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// `urls` with every password, and every token (a user without a password), replaced by
/// `***`, for errors and logs.
pub(crate) fn redact_url(urls: &str) -> String {
    urls.split(',')
        .map(|url| {
            let (scheme, rest) = url.split_once("://").map_or(("", url), |(s, r)| (s, r));
            let Some((userinfo, host)) = rest.rsplit_once('@') else {
                return url.to_owned();
            };
            let userinfo = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_owned(),
            };
            let scheme = if scheme.is_empty() {
                String::new()
            } else {
                format!("{scheme}://")
            };
            format!("{scheme}{userinfo}@{host}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The servers of `urls`: one URL, or several separated by commas (a cluster's nodes, as
/// `NATS_URL` lists them), each checked here so that a typo names its entry.
fn server_list(urls: &str) -> Result<Vec<async_nats::ServerAddr>> {
    let servers = urls
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| {
            url.parse::<async_nats::ServerAddr>().map_err(|error| {
                Error::invalid("NATS server URL", format!("`{}`: {error}", redact_url(url)))
            })
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
    fn credentials_in_the_url_authenticate_and_are_never_shown() {
        let servers = server_list("nats://127.0.0.1:4222,nats://u%40x:p%3As@127.0.0.1:4223")
            .expect("servers");
        match url_credentials(&servers) {
            Some(Auth::UserPassword(user, password)) => {
                assert_eq!((user.as_str(), password.as_str()), ("u@x", "p:s"));
            }
            other => panic!("{other:?}"),
        }
        let bare: Vec<String> = servers
            .into_iter()
            .map(|s| {
                without_credentials(s)
                    .expect("valid")
                    .into_inner()
                    .to_string()
            })
            .collect();
        assert_eq!(bare, ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]);
        let token = server_list("nats://s3cr3t@127.0.0.1:4222").expect("server");
        assert!(matches!(url_credentials(&token), Some(Auth::Token(t)) if t == "s3cr3t"));
        assert_eq!(
            redact_url("nats://u:hunter2@a:4222,tls://s3cr3t@b:4222,c:4222"),
            "nats://u:***@a:4222,tls://***@b:4222,c:4222"
        );
        let options = NatsOptions::new("nats://u:hunter2@a:4222").token("s3cr3t");
        let shown = format!("{options:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        let shown = format!("{:?}", NatsOptions::new("a").user_password("u", "hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn the_environment_names_credentials_and_tls() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let options = NatsOptions::from_lookup(env(&[
            ("NATS_URL", "nats://a:4222"),
            ("NATS_USER", "u"),
            ("NATS_PASSWORD", "p"),
            ("NATS_CA", "/ca.pem"),
            ("NATS_CERT", "/c.pem"),
            ("NATS_KEY", "/k.pem"),
            ("NATS_TLS_FIRST", "true"),
        ]));
        assert!(matches!(&options.auth, Auth::UserPassword(u, p) if u == "u" && p == "p"));
        assert_eq!(options.root_certificates, [PathBuf::from("/ca.pem")]);
        assert!(options.client_certificate.is_some() && options.tls_first);
        assert!(options.invalid_env.is_none());
        let token = NatsOptions::from_lookup(env(&[("NATS_TOKEN", "t"), ("NATS_USER", "u")]));
        assert!(matches!(&token.auth, Auth::Token(t) if t == "t"));
        let creds = NatsOptions::from_lookup(env(&[("NATS_CREDS", "/x.creds")]));
        assert!(matches!(&creds.auth, Auth::CredentialsFile(p) if p == &PathBuf::from("/x.creds")));
        let half = NatsOptions::from_lookup(env(&[("NATS_CERT", "/c.pem")]));
        assert!(half.invalid_env.is_some());
        let missing = NatsOptions::from_lookup(env(&[("NATS_NKEY", "/no/such/seed")]));
        assert!(missing.invalid_env.is_some_and(|e| e.contains("NATS_NKEY")));
        assert!(
            NatsOptions::from_lookup(env(&[("NATS_TLS_FIRST", "yes")]))
                .invalid_env
                .is_some()
        );
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
