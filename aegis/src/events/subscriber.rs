//! Running `#[subscribe]` handlers: durable consumers of `EVENTS`, acks, retries with
//! backoff, dead letters.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, SelectAll};
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tracing::Instrument;

use crate::backend::Backend;
use crate::consumer::{
    Intake, Runner, Tagged, Timeouts, backoff_delay, keep_alive, stop_intake, stopped,
};
use crate::dead_letters::{Origin, dead_letter, dead_letter_stream};
use crate::domain::subject::{EVENTS_STREAM, event_consumer, event_filter};
use crate::domain::trace::TraceContext;
use crate::events::SubscriptionMode;
use crate::events::call::{EventCall, EventOutcome, SubscriptionSpec};
use crate::events::publisher::events_stream;
use crate::handler::RpcError;
use crate::handler::panic_message;
use crate::ports::{ConsumerConfig, Delivery, Metrics, StartAt, Streams};
use crate::propagation;
use crate::service::Service;
use crate::{InstanceId, Result};

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

/// The durable consumer name of a subscription: `{service}-{handler}` in compete mode (all
/// instances share it), `{service}-{handler}-{instance}` in broadcast mode.
pub(crate) fn consumer_name(service: &str, spec: &SubscriptionSpec, instance: &str) -> String {
    let instance = (spec.mode == SubscriptionMode::Broadcast).then_some(instance);
    event_consumer(service, spec.handler, instance)
}

/// The running subscriptions of one service instance.
pub(crate) struct EventRunner<S> {
    service: Arc<S>,
    streams: Arc<dyn Streams>,
    metrics: Arc<dyn Metrics>,
    config: EventConfig,
    timeouts: Timeouts,
    /// Per subscription: the spec and its consumer name.
    subscriptions: Vec<(SubscriptionSpec, String)>,
}

impl<S: Service> EventRunner<S> {
    /// Binds every `#[subscribe]` handler of `S` to its consumer; `None` without any.
    pub(crate) async fn start(
        service: &Arc<S>,
        backend: &Backend,
        instance: &InstanceId,
        config: &EventConfig,
        timeouts: Timeouts,
    ) -> Result<Option<Runner>> {
        let specs = S::__subscriptions();
        if specs.is_empty() {
            return Ok(None);
        }
        let streams = Arc::clone(backend.streams()?);
        streams.ensure_stream(events_stream()).await?;
        streams.ensure_stream(dead_letter_stream()).await?;
        let mut intake: Intake = SelectAll::new();
        let mut subscriptions = Vec::new();
        for (index, spec) in specs.into_iter().enumerate() {
            let filter = event_filter(spec.pattern)?;
            let name = consumer_name(S::NAME, &spec, instance.as_str());
            let consumer = ConsumerConfig {
                fetch_ahead: config.max_in_flight,
                name: name.clone(),
                filter_subject: filter,
                start: config.start_of(spec.handler),
                ack_wait: config.ack_wait,
                max_ack_pending: config.max_in_flight.max(1000),
                inactive_threshold: (spec.mode == SubscriptionMode::Broadcast)
                    .then_some(config.broadcast_inactive),
            };
            let deliveries = streams.consume(EVENTS_STREAM, consumer).await?;
            intake.push(Tagged { index, deliveries });
            subscriptions.push((spec, name));
        }
        let runner = Arc::new(EventRunner {
            service: Arc::clone(service),
            streams,
            metrics: Arc::clone(backend.metrics()),
            config: config.clone(),
            timeouts,
            subscriptions,
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(runner.run(intake, stopped));
        Ok(Some(Runner { stop, task }))
    }

    /// Handles deliveries as they come, at most `max_in_flight` at once, polled in this task.
    async fn run(self: Arc<Self>, mut intake: Intake, stop: watch::Receiver<bool>) {
        let mut running = FuturesUnordered::new();
        let mut stopped = std::pin::pin!(stopped(stop));
        loop {
            let room = running.len() < self.config.max_in_flight;
            tokio::select! {
                biased;
                () = &mut stopped => break,
                Some(()) = running.next(), if !running.is_empty() => {}
                next = intake.next(), if room => match next {
                    Some((index, Ok(delivery))) => running.push(Arc::clone(&self).handle(index, delivery)),
                    Some((index, Err(error))) => {
                        tracing::warn!(consumer = self.subscriptions[index].1, %error, "event delivery failed");
                    }
                    None => {
                        tracing::error!(service = S::NAME, "every event consumer ended: this instance takes no more events");
                        break;
                    }
                },
            }
        }
        // Stop pulling; what arrived but was not started goes back at once.
        stop_intake(&mut intake).await;
        let drain = async { while running.next().await.is_some() {} };
        if tokio::time::timeout(self.timeouts.drain, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                service = S::NAME,
                "drain timeout: event handlers cancelled (their events will be redelivered)"
            );
        }
    }

    /// One delivery to `handler` ended with `outcome`: handled, retried or dead_lettered.
    fn count(&self, handler: &'static str, outcome: &'static str) {
        let labels = [
            ("service", S::NAME),
            ("handler", handler),
            ("outcome", outcome),
        ];
        self.metrics
            .increment("aegis_events_deliveries_total", &labels, 1);
    }

    fn handle(self: Arc<Self>, index: usize, delivery: Delivery) -> impl Future<Output = ()> {
        let handler = self.subscriptions[index].0.handler;
        let span = tracing::debug_span!(
            parent: None,
            "event",
            service = S::NAME,
            handler,
            subject = delivery.message.subject.as_str(),
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
            "otel.name" = format_args!("{} process", delivery.message.subject),
            "otel.kind" = "consumer",
            "messaging.system" = "nats",
            "messaging.operation.type" = "process",
            "messaging.destination.name" = delivery.message.subject.as_str(),
            "messaging.consumer.group.name" = format_args!("{}.{handler}", S::NAME),
            "otel.status_code" = tracing::field::Empty,
            "error.type" = tracing::field::Empty,
        );
        let trace = propagation::enter(&span, propagation::incoming(&delivery.message.headers));
        self.handle_in_span(index, delivery, trace).instrument(span)
    }

    async fn handle_in_span(
        self: Arc<Self>,
        index: usize,
        delivery: Delivery,
        trace: TraceContext,
    ) {
        let (spec, consumer) = &self.subscriptions[index];
        let delivered = delivery.info.delivered;
        let max = u64::from(self.config.max_deliveries);
        let origin = Origin {
            service: S::NAME,
            stream: EVENTS_STREAM,
            consumer,
        };
        let retry_in = self.config.delay_after(delivered);
        if delivered > max {
            // Its handler never reported back (its instance died, say) `max` times.
            let error = RpcError::internal(format!(
                "delivered {delivered} times without an outcome (max {max})"
            ));
            self.count(spec.handler, "dead_lettered");
            dead_letter(&*self.streams, origin, &delivery, &error, retry_in).await;
            return;
        }
        let call = EventCall {
            subject: delivery.message.subject.clone(),
            payload: delivery.message.payload.clone(),
            headers: delivery.message.headers.clone(),
            delivered,
            handler: spec.handler,
            timeout: self.timeouts.handler,
            trace,
        };
        let started = std::time::Instant::now();
        let work =
            AssertUnwindSafe(S::__on_event(&self.service, spec.handler, call)).catch_unwind();
        let outcome = match keep_alive(&*delivery.acker(), self.config.ack_wait, work).await {
            Ok(outcome) => outcome,
            Err(panic) => EventOutcome::Failed(RpcError::internal(format!(
                "handler `{}` panicked: {}",
                spec.handler,
                panic_message(&*panic)
            ))),
        };
        self.metrics.observe(
            "aegis_events_handler_duration_seconds",
            &[("service", S::NAME), ("handler", spec.handler)],
            started.elapsed().as_secs_f64(),
        );
        if let EventOutcome::Failed(error) = &outcome {
            propagation::record_failure(&tracing::Span::current(), error.code());
        }
        match outcome {
            EventOutcome::Handled => {
                self.count(spec.handler, "handled");
                if let Err(error) = delivery.ack().await {
                    tracing::warn!(consumer, %error, "could not ack an event (it will be redelivered)");
                }
            }
            EventOutcome::Failed(error) if error.code() >= 500 && delivered < max => {
                tracing::debug!(consumer, delivered, %error, "event failed; retrying");
                self.count(spec.handler, "retried");
                if let Err(error) = delivery.nak(retry_in).await {
                    tracing::warn!(consumer, %error, "could not nak an event (it will be redelivered)");
                }
            }
            EventOutcome::Failed(error) => {
                self.count(spec.handler, "dead_lettered");
                dead_letter(&*self.streams, origin, &delivery, &error, retry_in).await;
            }
        }
    }
}
