//! The two key forms of one registry: aegis's `service-instances.{service}.{instance}` and
//! the Python SDK's `service-instances__{service}__{instance}`. Reading an entry of either
//! form, and merging both into one listing.

use std::collections::BTreeMap;

use crate::domain::instance::ServiceInstance;
use crate::domain::subject::{REGISTRY_KEY_PREFIX, python_registry_key, service_of_key};
use crate::ports::KvEntry;

/// Which form a key has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyForm {
    /// `service-instances.{service}.{instance}`.
    Dotted,
    /// `service-instances__{service}__{instance}`.
    Python,
}

impl KeyForm {
    /// The form of `key`, or `None` for keys that are no registry entry's (the Python
    /// monitor-api keeps plain service names in the same bucket).
    pub(crate) fn of(key: &str) -> Option<KeyForm> {
        let rest = key.strip_prefix(REGISTRY_KEY_PREFIX)?;
        if rest.starts_with('.') {
            service_of_key(key).map(|_| KeyForm::Dotted)
        } else if rest.starts_with("__") {
            Some(KeyForm::Python)
        } else {
            None
        }
    }
}

/// The entry stored under `entry.key`, if it reads as one. A Python-form key is one token
/// that `__` splits ambiguously, so the value names the instance, and the key must be the one
/// that value is written under.
pub(crate) fn decode(entry: &KvEntry, form: KeyForm) -> Option<ServiceInstance> {
    let instance = match serde_json::from_slice::<ServiceInstance>(&entry.value) {
        Ok(instance) => instance,
        Err(error) => {
            tracing::debug!(key = entry.key, %error, "skipping unreadable registry entry");
            return None;
        }
    };
    let consistent = match form {
        KeyForm::Dotted => true,
        KeyForm::Python => {
            entry.key == python_registry_key(&instance.service_name, &instance.instance_id)
        }
    };
    if !consistent {
        tracing::debug!(
            key = entry.key,
            "skipping a registry entry stored under another key"
        );
        return None;
    }
    Some(instance)
}

/// Both forms in one listing sorted by service and instance id, one entry per instance.
/// An aegis instance writes both forms: the one with the later `lastHeartbeat` is kept (an
/// unreadable one counts as earliest), the dotted one on a tie.
pub(crate) fn merge(
    dotted: Vec<ServiceInstance>,
    python: Vec<ServiceInstance>,
) -> Vec<ServiceInstance> {
    let mut by_id: BTreeMap<(String, String), ServiceInstance> = BTreeMap::new();
    for instance in dotted {
        by_id.insert(id_of(&instance), instance);
    }
    for instance in python {
        match by_id.entry(id_of(&instance)) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(instance);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => {
                if instance.last_heartbeat_at() > slot.get().last_heartbeat_at() {
                    slot.insert(instance);
                }
            }
        }
    }
    by_id.into_values().collect()
}

fn id_of(instance: &ServiceInstance) -> (String, String) {
    (instance.service_name.clone(), instance.instance_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instance::InstanceStatus;
    use crate::ports::KvOperation;

    fn instance(service: &str, id: &str, heartbeat: &str) -> ServiceInstance {
        ServiceInstance {
            service_name: service.to_owned(),
            instance_id: id.to_owned(),
            version: "1.0.0".to_owned(),
            status: InstanceStatus::Active,
            last_heartbeat: heartbeat.to_owned(),
            sticky_active_group: None,
            metadata: BTreeMap::new(),
        }
    }

    fn stored(key: &str, instance: &ServiceInstance) -> KvEntry {
        KvEntry {
            key: key.to_owned(),
            value: serde_json::to_vec(instance).expect("encodes").into(),
            revision: 1,
            operation: KvOperation::Put,
        }
    }

    #[test]
    fn forms_of_keys() {
        assert_eq!(
            KeyForm::of("service-instances.a.a-1"),
            Some(KeyForm::Dotted)
        );
        assert_eq!(
            KeyForm::of("service-instances__a__a-1"),
            Some(KeyForm::Python)
        );
        for other in [
            "service-instances.a",
            "service-instances_a_a-1",
            "echo-service",
            "x.service-instances.a.b",
        ] {
            assert_eq!(KeyForm::of(other), None, "{other}");
        }
    }

    #[test]
    fn a_python_form_value_must_be_the_one_its_key_names() {
        let echo = instance("my_svc", "my_svc-1", "2026-01-01T00:00:00+00:00");
        let entry = stored("service-instances__my_svc__my_svc-1", &echo);
        assert_eq!(decode(&entry, KeyForm::Python), Some(echo.clone()));
        // The same value under the key of another service, or instance: not this entry.
        for elsewhere in [
            "service-instances__my__svc__my_svc-1",
            "service-instances__my_svc__my_svc-2",
        ] {
            assert_eq!(decode(&stored(elsewhere, &echo), KeyForm::Python), None);
        }
        let mut junk = entry;
        junk.value = bytes::Bytes::from_static(b"{\"serviceName\":1}");
        assert_eq!(decode(&junk, KeyForm::Python), None);
    }

    #[test]
    fn merging_keeps_one_entry_per_instance_the_later_heartbeat_and_the_order() {
        let early = "2026-01-01T00:00:00+00:00";
        let late = "2026-01-01T00:00:01+00:00";
        // Which one is kept shows in the version: the Python-form ones have 2.0.0.
        let python = |id: &str, heartbeat| ServiceInstance {
            version: "2.0.0".into(),
            ..instance(&id[..1], id, heartbeat)
        };
        let merged = merge(
            vec![
                instance("a", "a-1", early),
                instance("a", "a-2", late),
                instance("a", "a-3", early),
                instance("b", "b-1", "unreadable"),
            ],
            vec![
                python("a-1", early),
                python("a-2", early),
                python("a-3", late),
                python("b-1", early),
                python("a-0", early),
            ],
        );
        let seen: Vec<(&str, &str, &str)> = merged
            .iter()
            .map(|i| {
                (
                    i.service_name.as_str(),
                    i.instance_id.as_str(),
                    i.version.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("a", "a-0", "2.0.0"), // only in the Python form
                ("a", "a-1", "1.0.0"), // a tie: the dotted one
                ("a", "a-2", "1.0.0"), // the dotted one is later
                ("a", "a-3", "2.0.0"), // the Python-form one is later
                ("b", "b-1", "2.0.0"), // the dotted one's heartbeat is unreadable
            ]
        );
    }
}
