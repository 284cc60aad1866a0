//! The durable-consumer loop parts that events and commands share: bindings tagged with their
//! handler, stopping intake, keep-alive while a handler runs, backoff, the runner's stop.

use std::future::Future;
use std::time::Duration;

use futures::stream::SelectAll;
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;

use crate::Result;
use crate::ports::{AckKind, Acker, Deliveries, Delivery};

/// Entry `delivered - 1` of `backoff`, the last one repeating; zero without backoff.
pub(crate) fn backoff_delay(backoff: &[Duration], delivered: u64) -> Duration {
    let index = usize::try_from(delivered.saturating_sub(1)).unwrap_or(usize::MAX);
    backoff
        .get(index)
        .or(backoff.last())
        .copied()
        .unwrap_or_default()
}

/// Runs `work` while telling the stream every `ack_wait / 3` that the delivery is still
/// being worked on, so that a long handler does not get its message delivered elsewhere.
pub(crate) async fn keep_alive<F: Future>(
    acker: &dyn Acker,
    ack_wait: Duration,
    work: F,
) -> F::Output {
    let mut work = std::pin::pin!(work);
    let period = (ack_wait / 3).max(Duration::from_millis(50));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = ticks.tick() => {
                if let Err(error) = acker.settle(AckKind::Progress).await {
                    tracing::debug!(%error, "keep-alive failed");
                }
            }
        }
    }
}

/// One consumer binding whose deliveries carry the index of their handler.
pub(crate) struct Tagged {
    pub(crate) index: usize,
    pub(crate) deliveries: Deliveries,
}

impl futures::Stream for Tagged {
    type Item = (usize, Result<Delivery>);

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let index = self.index;
        self.deliveries
            .poll_next_unpin(cx)
            .map(|item| item.map(|item| (index, item)))
    }
}

/// Every binding of one runner.
pub(crate) type Intake = SelectAll<Tagged>;

/// Stops every binding of `intake`, and gives back at once what arrived but was not started.
pub(crate) async fn stop_intake(intake: &mut Intake) {
    for tagged in intake.iter_mut() {
        tagged.deliveries.stop().await;
    }
    while let Some(Some((_, Ok(delivery)))) = intake.next().now_or_never() {
        let _ = delivery.nak(Duration::ZERO).await;
    }
}

/// How long a handler may run, and how long a stopping runner waits for running ones.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) handler: Duration,
    pub(crate) drain: Duration,
}

/// A background loop and its stop signal.
pub(crate) struct Runner {
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl Runner {
    /// Stops it and waits for its drain.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Resolves once `stop` turns `true` (or its sender is gone).
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
