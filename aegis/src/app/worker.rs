//! Running `#[command]` handlers: the `COMMANDS` work queue, priority order, keep-alive,
//! retries, cancellation, progress and outcome to the caller.

use std::time::Duration;

/// How a service runs commands.
#[derive(Debug, Clone)]
pub struct CommandConfig {
    pub(crate) max_concurrency: usize,
    pub(crate) prefetch: usize,
    pub(crate) ack_wait: Duration,
    pub(crate) backoff: Vec<Duration>,
    pub(crate) max_timeout: Duration,
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig {
            max_concurrency: 16,
            prefetch: 64,
            ack_wait: Duration::from_secs(30),
            backoff: vec![
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(15),
                Duration::from_secs(30),
            ],
            max_timeout: Duration::from_secs(3600),
        }
    }
}

impl CommandConfig {
    /// Defaults: 16 commands at once, 64 more waiting in priority order, ack wait 30 s,
    /// backoff 1 s, 5 s, 15 s, 30 s, command timeouts capped at one hour.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `n` commands run at once in this instance.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// How many commands this instance holds waiting beyond those running; among them,
    /// the highest priority runs first (then the oldest).
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = n;
        self
    }

    /// How long a command may go without a sign of life before another instance gets it.
    /// Held and running commands are kept alive every third of it, so this is also about
    /// how long a crashed instance's commands wait before they run elsewhere.
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait.max(Duration::from_millis(300));
        self
    }

    /// The delay before each retry after a failure: the first entry after the first
    /// failure, and so on; the last entry repeats.
    pub fn backoff(mut self, delays: impl IntoIterator<Item = Duration>) -> Self {
        self.backoff = delays.into_iter().collect();
        self
    }

    /// The longest any command may run, whatever its own `timeout` says.
    pub fn max_timeout(mut self, max: Duration) -> Self {
        self.max_timeout = max;
        self
    }
}
