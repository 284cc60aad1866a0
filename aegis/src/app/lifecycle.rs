use std::fmt;

/// Where a service is in its life (the seed's lifecycle state machine).
///
/// `INITIALIZING → STARTING → STARTED → STOPPING → STOPPED`, with `FAILED` from `STARTING`
/// (start error) or `STOPPING` (stop error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleState {
    /// Built, not started.
    Initializing,
    /// Running `on_start` hooks and subscribing.
    Starting,
    /// Serving.
    Started,
    /// Intake stopped; draining in-flight handlers, running `on_stop` hooks.
    Stopping,
    /// Stopped cleanly.
    Stopped,
    /// Start or stop failed.
    Failed,
}

impl LifecycleState {
    /// `true` while the service serves requests.
    pub fn is_operational(self) -> bool {
        self == LifecycleState::Started
    }

    /// `true` once the service will never serve again.
    pub fn is_terminal(self) -> bool {
        matches!(self, LifecycleState::Stopped | LifecycleState::Failed)
    }
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LifecycleState::Initializing => "INITIALIZING",
            LifecycleState::Starting => "STARTING",
            LifecycleState::Started => "STARTED",
            LifecycleState::Stopping => "STOPPING",
            LifecycleState::Stopped => "STOPPED",
            LifecycleState::Failed => "FAILED",
        })
    }
}
