//! Running `#[subscribe]` handlers: durable consumers of `EVENTS`, acks, retries with
//! backoff, dead letters.

use std::time::Duration;

use crate::ports::StartAt;

/// The stream dead letters go to: `DEAD_LETTERS`, capturing `deadletter.>`.
pub const DEAD_LETTER_STREAM: &str = "DEAD_LETTERS";

/// Where a message that `service` gave up on goes: `deadletter.{service}.{original subject}`.
/// The payload is the original, untouched; headers say why (`Aegis-Dead-Letter-*`).
pub fn dead_letter_subject(service: &str, subject: &str) -> String {
    format!("deadletter.{service}.{subject}")
}

/// How a service consumes events.
#[derive(Debug, Clone)]
pub struct EventConfig {
    pub(crate) max_deliveries: u32,
    pub(crate) backoff: Vec<Duration>,
    pub(crate) ack_wait: Duration,
    pub(crate) max_in_flight: usize,
    pub(crate) broadcast_inactive: Duration,
    pub(crate) starts: Vec<(String, StartAt)>,
}

impl Default for EventConfig {
    fn default() -> Self {
        EventConfig {
            max_deliveries: 5,
            backoff: vec![
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(15),
                Duration::from_secs(30),
            ],
            ack_wait: Duration::from_secs(30),
            max_in_flight: 256,
            broadcast_inactive: Duration::from_secs(600),
            starts: Vec::new(),
        }
    }
}

impl EventConfig {
    /// Defaults: at most 5 deliveries, backoff 1 s, 5 s, 15 s, 30 s, ack wait 30 s, 256
    /// handlers at once, new subscriptions start with new events.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times an event is delivered before it goes to the dead letters.
    pub fn max_deliveries(mut self, n: u32) -> Self {
        self.max_deliveries = n.max(1);
        self
    }

    /// The delay before each redelivery after a failure: the first entry after the first
    /// failure, and so on; the last entry repeats.
    pub fn backoff(mut self, delays: impl IntoIterator<Item = Duration>) -> Self {
        self.backoff = delays.into_iter().collect();
        self
    }

    /// How long a delivery may go unacknowledged before it is delivered again (running
    /// handlers extend it while they run).
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait.max(Duration::from_millis(100));
        self
    }

    /// At most `n` event handlers run at once in this instance.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// A broadcast subscription's consumer (one per instance) is removed after its instance
    /// has been gone this long (default 10 min).
    pub fn broadcast_inactive(mut self, after: Duration) -> Self {
        self.broadcast_inactive = after.max(Duration::from_secs(1));
        self
    }

    /// Where the subscription of `handler` starts when its consumer is first created
    /// (default: new events only). An existing consumer keeps its position.
    pub fn start_at(mut self, handler: &str, start: StartAt) -> Self {
        self.starts.retain(|(h, _)| h != handler);
        self.starts.push((handler.to_owned(), start));
        self
    }

    pub(crate) fn start_of(&self, handler: &str) -> StartAt {
        self.starts
            .iter()
            .find(|(h, _)| h == handler)
            .map_or(StartAt::New, |(_, start)| *start)
    }

    /// The delay before redelivering after failed delivery number `delivered`.
    pub(crate) fn delay_after(&self, delivered: u64) -> Duration {
        backoff_delay(&self.backoff, delivered)
    }
}

/// Entry `delivered - 1` of `backoff`, the last one repeating; zero without backoff.
pub(crate) fn backoff_delay(backoff: &[Duration], delivered: u64) -> Duration {
    let index = usize::try_from(delivered.saturating_sub(1)).unwrap_or(usize::MAX);
    backoff
        .get(index)
        .or(backoff.last())
        .copied()
        .unwrap_or_default()
}
