//! How many copies of each stream and bucket aegis creates on JetStream, and on what storage:
//! one setting for `EVENTS`, `COMMANDS`, `DEAD_LETTERS`, the registry and every election
//! bucket.

use std::fmt;
use std::str::FromStr;

use async_nats::jetstream::stream::StorageType;

use crate::{Error, Result};

/// Where JetStream keeps what aegis creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    /// On disk: survives a server restart (the default).
    #[default]
    File,
    /// In memory: faster, lost when every replica restarts.
    Memory,
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Storage::File => "file",
            Storage::Memory => "memory",
        })
    }
}

impl FromStr for Storage {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "file" => Ok(Storage::File),
            "memory" => Ok(Storage::Memory),
            other => Err(Error::invalid(
                "storage",
                format!("`{other}`: expected `file` or `memory`"),
            )),
        }
    }
}

/// The most replicas a JetStream stream can have.
const MAX_REPLICAS: usize = 5;
/// What `auto` picks at most on a cluster: three copies survive the loss of any one node.
const AUTO_MAX_REPLICAS: usize = 3;

/// Replicas (`None`: decided from the server at creation) and storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Placement {
    pub(crate) replicas: Option<usize>,
    pub(crate) storage: Storage,
}

impl Placement {
    /// Checks a replica count given by the user.
    pub(crate) fn check_replicas(replicas: usize) -> Result<usize> {
        if (1..=MAX_REPLICAS).contains(&replicas) {
            Ok(replicas)
        } else {
            Err(Error::invalid(
                "replicas",
                format!("{replicas}: JetStream keeps 1 to {MAX_REPLICAS} replicas"),
            ))
        }
    }

    /// `auto` or a replica count, as `AEGIS_REPLICAS` says.
    pub(crate) fn parse_replicas(text: &str) -> Result<Option<usize>> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("auto") || text.is_empty() {
            return Ok(None);
        }
        let replicas = text.parse::<usize>().map_err(|_| {
            Error::invalid("replicas", format!("`{text}`: expected `auto` or 1 to 5"))
        })?;
        Self::check_replicas(replicas).map(Some)
    }

    /// The replicas to create with, given what the connected server says of its cluster:
    /// the configured count, else 1 on a single server and the cluster's size up to 3 (3
    /// when the cluster does not advertise its servers; see [`fallback`](Self::fallback)).
    pub(crate) fn replicas(&self, server: &async_nats::ServerInfo) -> usize {
        self.replicas
            .unwrap_or_else(|| cluster_size(server).min(AUTO_MAX_REPLICAS))
    }

    /// With automatic replicas, what to try after creating with `asked` replicas failed (the
    /// cluster has fewer servers than it showed, or JetStream runs on fewer of them): one.
    /// `None` when the user chose the count: their choice is not overridden.
    pub(crate) fn fallback(&self, asked: usize) -> Option<usize> {
        (self.replicas.is_none() && asked > 1).then_some(1)
    }

    pub(crate) fn warn_fallback(
        &self,
        what: &str,
        name: &str,
        asked: usize,
        error: &dyn fmt::Display,
    ) {
        tracing::warn!(
            what,
            name,
            asked,
            %error,
            "cannot create with the automatic replica count; creating with 1 replica \
             (set AEGIS_REPLICAS or NatsOptions::replicas to choose)"
        );
    }

    pub(crate) fn storage_type(&self) -> StorageType {
        match self.storage {
            Storage::File => StorageType::File,
            Storage::Memory => StorageType::Memory,
        }
    }

    /// Logs when an existing stream or bucket, used as it is, has fewer replicas than this
    /// placement would give it.
    pub(crate) fn check_existing(
        &self,
        what: &str,
        name: &str,
        have: usize,
        server: &async_nats::ServerInfo,
    ) {
        let want = self.replicas(server);
        if have < want {
            tracing::warn!(
                what,
                name,
                replicas = have,
                configured = want,
                "exists with fewer replicas than configured; used as it is (raise them with \
                 `nats stream edit --replicas`)"
            );
        }
    }
}

/// How many servers the connected server's cluster has: 1 outside a cluster; else the
/// distinct client URLs it advertises (its own included), or, when it advertises none
/// (`no_advertise`), as many as `auto` would use.
fn cluster_size(server: &async_nats::ServerInfo) -> usize {
    if server.cluster.as_deref().is_none_or(str::is_empty) {
        return 1;
    }
    let mut urls: Vec<&str> = server.connect_urls.iter().map(String::as_str).collect();
    urls.sort_unstable();
    urls.dedup();
    if urls.is_empty() {
        AUTO_MAX_REPLICAS
    } else {
        urls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(cluster: Option<&str>, urls: &[&str]) -> async_nats::ServerInfo {
        async_nats::ServerInfo {
            cluster: cluster.map(str::to_owned),
            connect_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn auto_is_one_on_a_single_server_and_the_cluster_size_up_to_three() {
        let auto = Placement::default();
        assert_eq!(auto.replicas(&server(None, &["127.0.0.1:4222"])), 1);
        assert_eq!(auto.replicas(&server(Some("c"), &[])), 3);
        assert_eq!(auto.fallback(3), Some(1));
        assert_eq!(auto.fallback(1), None);
        assert_eq!(auto.replicas(&server(Some("c"), &["a:1", "b:1"])), 2);
        assert_eq!(
            auto.replicas(&server(Some("c"), &["a:1", "b:1", "c:1", "a:1"])),
            3
        );
        assert_eq!(
            auto.replicas(&server(Some("c"), &["a:1", "b:1", "c:1", "d:1", "e:1"])),
            3
        );
        let five = Placement {
            replicas: Some(5),
            ..Placement::default()
        };
        assert_eq!(five.replicas(&server(None, &[])), 5);
        assert_eq!(five.fallback(5), None, "a chosen count is not overridden");
    }

    #[test]
    fn replicas_and_storage_parse_from_text() {
        assert_eq!(Placement::parse_replicas("auto").expect("auto"), None);
        assert_eq!(Placement::parse_replicas(" 3 ").expect("3"), Some(3));
        for bad in ["0", "6", "three", "-1"] {
            assert!(Placement::parse_replicas(bad).is_err(), "{bad}");
        }
        assert_eq!(
            "memory".parse::<Storage>().expect("memory"),
            Storage::Memory
        );
        assert_eq!("FILE".parse::<Storage>().expect("file"), Storage::File);
        assert!("disk".parse::<Storage>().is_err());
    }
}
