//! Python instances in an aegis single-active group. Python's election cannot take part in
//! aegis's (and at Python HEAD it does not run at all), so such a Python instance serves
//! exclusive calls beside the aegis leader: a split brain that aegis can see but not
//! prevent. The health manager reports it (see `health.rs`).

use std::time::{Duration, SystemTime};

use crate::domain::instance::ServiceInstance;

/// The ids of the Python instances among `instances` (entries without the aegis marker) that
/// are in `group` and healthy at `now` (alive within `ttl`, not UNHEALTHY: what discovery
/// routes to), sorted.
pub(crate) fn python_rivals(
    instances: &[ServiceInstance],
    group: &str,
    now: SystemTime,
    ttl: Duration,
) -> Vec<String> {
    let mut rivals: Vec<String> = instances
        .iter()
        .filter(|i| !i.is_rust())
        .filter(|i| i.sticky_active_group.as_deref() == Some(group))
        .filter(|i| i.is_healthy(now, ttl))
        .map(|i| i.instance_id.clone())
        .collect();
    rivals.sort_unstable();
    rivals
}

/// Says what changed (the caller calls only on a change): an error naming the Python
/// instances and what to do, or one info line once none is left.
pub(crate) fn log_change(service: &str, group: &str, before: &[String], now: &[String]) {
    if now.is_empty() {
        if !before.is_empty() {
            tracing::info!(
                service,
                group,
                "no live Python instance left in single-active group `{group}`; no longer \
                 unhealthy on that account"
            );
        }
        return;
    }
    let python_instances = now.join(", ");
    tracing::error!(
        service,
        group,
        python_instances,
        "Python instance(s) {python_instances} of `{service}` are in single-active group \
         `{group}`: Python cannot join this group's election, so both sides serve exclusive \
         calls (split brain). Run the group in one language: stop the Python instances, or give \
         the Rust ones another group with `ServiceConfig::group_id`. This instance reports \
         UNHEALTHY until then."
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::envelope::format_timestamp;
    use crate::domain::instance::{InstanceStatus, RUST_MARKER, RUST_MARKER_KEY};

    fn entry(id: &str, group: Option<&str>, heartbeat: SystemTime) -> ServiceInstance {
        ServiceInstance {
            service_name: "echo".into(),
            instance_id: id.into(),
            version: "1.0.0".into(),
            status: InstanceStatus::Active,
            last_heartbeat: format_timestamp(heartbeat),
            sticky_active_group: group.map(Into::into),
            metadata: Default::default(),
        }
    }

    #[test]
    fn rivals_are_live_python_entries_of_the_same_group() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ttl = Duration::from_secs(30);
        let mut rust = entry("rust-1", Some("main"), now);
        rust.metadata
            .insert(RUST_MARKER_KEY.into(), RUST_MARKER.into());
        let mut unhealthy = entry("py-sick", Some("main"), now);
        unhealthy.status = InstanceStatus::Unhealthy;
        let mut standby = entry("py-b", Some("main"), now - ttl);
        standby.status = InstanceStatus::Standby;
        let instances = [
            entry("py-c", Some("main"), now),
            rust,
            standby,
            unhealthy,
            entry("py-stale", Some("main"), now - ttl - Duration::from_secs(1)),
            entry("py-other", Some("other"), now),
            entry("py-none", None, now),
        ];
        assert_eq!(
            python_rivals(&instances, "main", now, ttl),
            ["py-b", "py-c"]
        );
        assert!(python_rivals(&instances, "absent", now, ttl).is_empty());
    }
}
