//! The value of a leader lease in `election_{service}`, keyed by the group.

use serde::{Deserialize, Serialize};

/// A leader lease as stored: JSON, written by `create` and rewritten by each renewal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The leader.
    pub instance_id: String,
    /// Drawn afresh by every campaign: tells this campaign's write from an older one.
    pub nonce: String,
    /// When the campaign that won wrote it (ISO 8601, UTC).
    pub acquired_at: String,
    /// The fencing token: the revision the lease was created at. Renewals write it, so that
    /// readers can tell it once the revision has moved on; before the first renewal the
    /// entry's revision is the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<u64>,
}

impl Lease {
    /// The fencing token of the lease stored at `revision`.
    pub fn token_at_revision(&self, revision: u64) -> u64 {
        self.token.unwrap_or(revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_without_a_token_takes_the_revision() {
        let stored = r#"{"instance_id":"a","nonce":"n","acquired_at":"2026-12-03T07:00:00+00:00"}"#;
        let lease: Lease = serde_json::from_str(stored).expect("an older lease parses");
        assert_eq!(lease.token_at_revision(7), 7);
        let renewed = Lease {
            token: Some(7),
            ..lease
        };
        assert_eq!(renewed.token_at_revision(9), 7);
        let text = serde_json::to_string(&renewed).expect("serializes");
        assert!(text.ends_with(r#","token":7}"#), "{text}");
    }
}
