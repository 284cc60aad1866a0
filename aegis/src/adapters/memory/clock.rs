//! A clock that moves only when told to: deterministic tests of TTL logic.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::ports::{BoxFuture, Clock};

/// A [`Clock`] that starts at a fixed point and advances only through [`advance`](Self::advance).
/// Sleepers wake when the clock passes their deadline. Cheap to clone; clones share the time.
#[derive(Clone)]
pub struct ManualClock {
    base: Instant,
    base_system: SystemTime,
    offset: Arc<watch::Sender<Duration>>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &*self.offset.borrow())
            .finish()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A clock at "now" that will not move by itself.
    pub fn new() -> Self {
        ManualClock {
            base: Instant::now(),
            base_system: SystemTime::now(),
            offset: Arc::new(watch::channel(Duration::ZERO).0),
        }
    }

    /// Moves the clock forward by `by`, waking every sleeper whose deadline passed.
    pub fn advance(&self, by: Duration) {
        self.offset.send_modify(|offset| *offset += by);
    }

    /// Time advanced so far.
    pub fn elapsed(&self) -> Duration {
        *self.offset.borrow()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + self.elapsed()
    }

    fn system_time(&self) -> SystemTime {
        self.base_system + self.elapsed()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let deadline = self.elapsed() + duration;
        let mut offset = self.offset.subscribe();
        Box::pin(async move {
            // The sender lives as long as any clone of the clock; if all are gone, time can
            // never reach the deadline, so never wake.
            if offset.wait_for(|now| *now >= deadline).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn sleepers_wake_only_when_time_passes_their_deadline() {
        let clock = ManualClock::new();
        let start = clock.now();
        let mut short = clock.sleep(Duration::from_secs(1));
        let mut long = clock.sleep(Duration::from_secs(5));
        assert!((&mut short).now_or_never().is_none());
        clock.advance(Duration::from_millis(999));
        assert!((&mut short).now_or_never().is_none());
        clock.advance(Duration::from_millis(1));
        short.await;
        assert!((&mut long).now_or_never().is_none());
        clock.advance(Duration::from_secs(10));
        long.await;
        assert_eq!(clock.now() - start, Duration::from_secs(11));
        assert_eq!(
            clock.system_time().duration_since(clock.base_system).ok(),
            Some(Duration::from_secs(11))
        );
    }

    #[tokio::test]
    async fn zero_sleep_is_immediate() {
        let clock = ManualClock::new();
        clock.sleep(Duration::ZERO).await;
    }
}
