//! Selection strategies: which instance of a service a call goes to.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::domain::instance::ServiceInstance;

/// How to pick one instance among the healthy ones (the Python AegisSDK's `SelectionStrategy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectionStrategy {
    /// Each instance in turn (by instance id order): exactly even over a stable set.
    RoundRobin,
    /// Uniformly at random.
    Random,
    /// `preferred_instance_id` while it is healthy; otherwise the first healthy instance (by
    /// id), and back to the preferred one as soon as it is healthy again.
    Sticky {
        /// The instance to prefer.
        preferred_instance_id: String,
    },
}

/// A strategy with its state (the round-robin position). One per client and service.
#[derive(Debug)]
pub struct Selector {
    strategy: SelectionStrategy,
    next: AtomicUsize,
}

impl Selector {
    /// A selector applying `strategy`.
    pub fn new(strategy: SelectionStrategy) -> Self {
        Selector {
            strategy,
            next: AtomicUsize::new(0),
        }
    }

    /// The strategy.
    pub fn strategy(&self) -> &SelectionStrategy {
        &self.strategy
    }

    /// Picks one of `instances` (which discovery returns sorted by instance id).
    pub fn select<'a>(&self, instances: &'a [ServiceInstance]) -> Option<&'a ServiceInstance> {
        if instances.is_empty() {
            return None;
        }
        match &self.strategy {
            SelectionStrategy::RoundRobin => {
                let turn = self.next.fetch_add(1, Ordering::Relaxed);
                instances.get(turn % instances.len())
            }
            SelectionStrategy::Random => instances.get(rand::random_range(0..instances.len())),
            SelectionStrategy::Sticky {
                preferred_instance_id,
            } => instances
                .iter()
                .find(|i| &i.instance_id == preferred_instance_id)
                .or_else(|| instances.first()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instance::InstanceStatus;

    fn instances(ids: &[&str]) -> Vec<ServiceInstance> {
        ids.iter()
            .map(|id| ServiceInstance {
                service_name: "svc".into(),
                instance_id: (*id).into(),
                version: "1.0.0".into(),
                status: InstanceStatus::Active,
                last_heartbeat: String::new(),
                sticky_active_group: None,
                metadata: Default::default(),
            })
            .collect()
    }

    #[test]
    fn round_robin_is_exactly_even() {
        let set = instances(&["a", "b", "c"]);
        let selector = Selector::new(SelectionStrategy::RoundRobin);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..300 {
            *counts
                .entry(selector.select(&set).expect("one").instance_id.clone())
                .or_insert(0) += 1;
        }
        assert_eq!(
            counts.values().copied().collect::<Vec<_>>(),
            [100, 100, 100]
        );
    }

    #[test]
    fn sticky_prefers_falls_back_and_returns() {
        let selector = Selector::new(SelectionStrategy::Sticky {
            preferred_instance_id: "b".into(),
        });
        assert_eq!(
            selector
                .select(&instances(&["a", "b", "c"]))
                .expect("one")
                .instance_id,
            "b"
        );
        assert_eq!(
            selector
                .select(&instances(&["a", "c"]))
                .expect("one")
                .instance_id,
            "a"
        );
        assert_eq!(
            selector
                .select(&instances(&["a", "b"]))
                .expect("one")
                .instance_id,
            "b"
        );
        assert!(selector.select(&[]).is_none());
    }

    #[test]
    fn random_stays_in_range() {
        let set = instances(&["a", "b"]);
        let selector = Selector::new(SelectionStrategy::Random);
        let picked: std::collections::HashSet<_> = (0..200)
            .map(|_| selector.select(&set).expect("one").instance_id.clone())
            .collect();
        assert_eq!(picked.len(), 2);
    }
}
