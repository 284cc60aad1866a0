//! A registry entry: one running instance of a service, as the Python SDK stores it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::domain::envelope::format_timestamp;

/// An instance's status in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InstanceStatus {
    /// Serving (for single-active services: the leader).
    Active,
    /// Serving, but not the leader of its single-active group.
    Standby,
    /// Alive but failing its heartbeats or health checks.
    Unhealthy,
}

/// The metadata key that marks an entry written by aegis (Rust). Python readers keep
/// `metadata` as a free map, so the entry stays readable; a top-level key would not.
pub const RUST_MARKER_KEY: &str = "aegis";

/// The value under [`RUST_MARKER_KEY`]: `rust {aegis crate version}`, e.g. `rust 0.1.0`.
pub const RUST_MARKER: &str = concat!("rust ", env!("CARGO_PKG_VERSION"));

/// The registry value: exactly the 7 camelCase keys of the Python SDK's `ServiceInstance`, in
/// its order. Python readers reject any other key, so none may be added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInstance {
    /// Service name.
    pub service_name: String,
    /// Instance id.
    pub instance_id: String,
    /// Service version, `x.y.z`.
    pub version: String,
    /// Status.
    pub status: InstanceStatus,
    /// ISO-8601 time of the last heartbeat.
    pub last_heartbeat: String,
    /// The single-active group, for services that have one.
    pub sticky_active_group: Option<String>,
    /// Free-form metadata. Python and aegis set `start_time`; aegis also sets
    /// [`RUST_MARKER_KEY`].
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl ServiceInstance {
    /// When the last heartbeat was written, if `lastHeartbeat` parses (RFC 3339 with offset;
    /// a naive timestamp, as old Python peers write, is taken as UTC).
    pub fn last_heartbeat_at(&self) -> Option<SystemTime> {
        parse_timestamp(&self.last_heartbeat)
    }

    /// `true` when the last heartbeat is at most `ttl` old at `now`. An unreadable heartbeat
    /// is not alive.
    pub fn is_alive(&self, now: SystemTime, ttl: Duration) -> bool {
        self.last_heartbeat_at()
            .is_some_and(|at| now.duration_since(at).map_or(true, |age| age <= ttl))
    }

    /// `true` when the instance may be routed to: alive, and ACTIVE or STANDBY.
    pub fn is_healthy(&self, now: SystemTime, ttl: Duration) -> bool {
        self.status != InstanceStatus::Unhealthy && self.is_alive(now, ttl)
    }

    /// `true` when aegis (Rust) wrote the entry: its metadata has [`RUST_MARKER_KEY`] set to
    /// `rust …`. Entries of Python instances, and of aegis before the marker, do not.
    pub fn is_rust(&self) -> bool {
        self.metadata
            .get(RUST_MARKER_KEY)
            .and_then(serde_json::Value::as_str)
            .is_some_and(|marker| marker.starts_with("rust "))
    }

    /// Stamps the heartbeat time.
    pub fn touch(&mut self, now: SystemTime) {
        self.last_heartbeat = format_timestamp(now);
    }
}

pub(crate) fn parse_timestamp(text: &str) -> Option<SystemTime> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    if let Ok(at) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at.into());
    }
    time::PrimitiveDateTime::parse(text, &Iso8601::DEFAULT)
        .ok()
        .map(|naive| naive.assume_utc().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from a Python SDK registry (`reference/aegis-python-wire-samples.txt`).
    const PYTHON: &str = r#"{"serviceName": "echo-demo", "instanceId": "echo-demo-cf537a6c", "version": "1.0.0", "status": "ACTIVE", "lastHeartbeat": "2026-11-26T23:47:28.137162+00:00", "stickyActiveGroup": null, "metadata": {"start_time": "2026-11-26T23:47:08.124245+00:00"}}"#;

    #[test]
    fn python_entries_round_trip_with_exactly_seven_keys() {
        let instance: ServiceInstance = serde_json::from_str(PYTHON).expect("decodes");
        assert_eq!(instance.status, InstanceStatus::Active);
        let json = serde_json::to_string(&instance).expect("encodes");
        let keys: Vec<String> =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&json)
                .expect("map")
                .keys()
                .cloned()
                .collect();
        let mut expected = [
            "serviceName",
            "instanceId",
            "version",
            "status",
            "lastHeartbeat",
            "stickyActiveGroup",
            "metadata",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert!(
            json.starts_with(r#"{"serviceName":"echo-demo","instanceId""#),
            "{json}"
        );
    }

    #[test]
    fn the_rust_marker_is_one_metadata_string() {
        let mut instance: ServiceInstance = serde_json::from_str(PYTHON).expect("decodes");
        assert!(!instance.is_rust(), "a Python entry");
        instance
            .metadata
            .insert(RUST_MARKER_KEY.into(), RUST_MARKER.into());
        assert!(instance.is_rust());
        assert_eq!(RUST_MARKER, format!("rust {}", env!("CARGO_PKG_VERSION")));
        instance.metadata.insert(RUST_MARKER_KEY.into(), 1.into());
        assert!(!instance.is_rust(), "not a string");
        instance
            .metadata
            .insert(RUST_MARKER_KEY.into(), "python".into());
        assert!(!instance.is_rust());
    }

    #[test]
    fn liveness_follows_the_heartbeat() {
        let mut instance: ServiceInstance = serde_json::from_str(PYTHON).expect("decodes");
        let at = instance.last_heartbeat_at().expect("parses");
        let ttl = Duration::from_secs(30);
        assert!(instance.is_alive(at + Duration::from_secs(30), ttl));
        assert!(!instance.is_alive(at + Duration::from_secs(31), ttl));
        instance.last_heartbeat = "2026-11-26T23:47:28".into();
        assert_eq!(
            instance.last_heartbeat_at(),
            Some(at - Duration::from_micros(137_162))
        );
        instance.last_heartbeat = "yesterday".into();
        assert!(!instance.is_alive(at, ttl));
        instance.touch(at);
        assert!(instance.is_healthy(at, ttl));
        instance.status = InstanceStatus::Unhealthy;
        assert!(!instance.is_healthy(at, ttl));
    }
}
