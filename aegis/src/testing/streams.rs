//! Conformance of [`Streams`] adapters.
//!
//! Every check runs in real time against a stream of its own (a random name capturing
//! `{random}.>`, so that streams of concurrent tests never overlap). Timers are a second or
//! more: NATS honours shorter ones only roughly.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;

use super::{DEADLINE, unique};
use crate::Error;
use crate::ports::{
    ConsumerConfig, Deliveries, Delivery, Headers, MSG_ID_HEADER, Message, PubAck, Retention,
    StartAt, StreamConfig, Streams,
};

/// The ack wait (and nak delay) of the timing checks.
const ACK_WAIT: Duration = Duration::from_secs(1);

/// How much earlier than its timer a redelivery may be seen: the server starts the timer
/// before the client sees the delivery or sends the settle.
const EARLY: Duration = Duration::from_millis(100);

/// How far the stream's clock may be from ours (a server's on another machine).
const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// An ack wait no check outlives: nothing is redelivered unless the check asks for it.
const LONG_ACK_WAIT: Duration = Duration::from_secs(60);

/// A stream of one check, capturing `{prefix}.>`.
struct Fixture<'a> {
    streams: &'a dyn Streams,
    config: StreamConfig,
    prefix: String,
}

impl<'a> Fixture<'a> {
    async fn new(streams: &'a dyn Streams, retention: Retention, max_msgs: i64) -> Self {
        let prefix = unique("conf");
        let config = StreamConfig {
            name: unique("CONF_"),
            subjects: vec![format!("{prefix}.>")],
            retention,
            max_msgs,
            duplicate_window: Duration::from_secs(60),
        };
        streams
            .ensure_stream(config.clone())
            .await
            .unwrap_or_else(|e| panic!("ensure stream {}: {e}", config.name));
        Fixture {
            streams,
            config,
            prefix,
        }
    }

    async fn limits(streams: &'a dyn Streams) -> Self {
        Self::new(streams, Retention::Limits, -1).await
    }

    fn name(&self) -> &str {
        &self.config.name
    }

    fn subject(&self, rest: &str) -> String {
        format!("{}.{rest}", self.prefix)
    }

    /// A fresh consumer of every message, with an ack wait no check outlives.
    fn consumer(&self, start: StartAt) -> ConsumerConfig {
        ConsumerConfig {
            fetch_ahead: 64,
            name: unique("conf-"),
            filter_subject: self.subject(">"),
            start,
            ack_wait: LONG_ACK_WAIT,
            max_ack_pending: 1000,
            inactive_threshold: None,
        }
    }

    async fn publish(&self, rest: &str, payload: &[u8]) -> PubAck {
        let subject = self.subject(rest);
        publish(
            self.streams,
            Message::new(subject.clone(), payload.to_vec()),
        )
        .await
        .unwrap_or_else(|e| panic!("publish to {subject}: {e}"))
    }

    /// Publishes `n` messages (payloads `0..n`) the fast way: every publish, then every ack.
    async fn publish_n(&self, rest: &str, n: u8) -> Vec<PubAck> {
        let mut pending = Vec::new();
        for i in 0..n {
            let message = Message::new(self.subject(rest), vec![i]);
            let sent = self.streams.publish(message).await;
            pending.push(sent.unwrap_or_else(|e| panic!("publish {i}: {e}")));
        }
        let mut acks = Vec::new();
        for (i, ack) in pending.into_iter().enumerate() {
            acks.push(
                ack.await
                    .unwrap_or_else(|e| panic!("ack of publish {i}: {e}")),
            );
        }
        acks
    }

    async fn consume(&self, config: ConsumerConfig) -> Deliveries {
        let name = config.name.clone();
        self.streams
            .consume(self.name(), config)
            .await
            .unwrap_or_else(|e| panic!("consume {name} on {}: {e}", self.name()))
    }

    async fn len(&self) -> u64 {
        self.streams
            .stream_len(self.name())
            .await
            .unwrap_or_else(|e| panic!("stream_len of {}: {e}", self.name()))
    }

    /// Waits until the stream holds `expected` messages (removal may trail the ack).
    async fn wait_for_len(&self, expected: u64, what: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let len = self.len().await;
            if len == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: stream holds {len} messages, not {expected}, after {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await; // polling interval, not a wait for an outcome
        }
    }
}

/// Publishes and awaits the acknowledgement; a refusal may come from either step.
async fn publish(streams: &dyn Streams, message: Message) -> crate::Result<PubAck> {
    streams.publish(message).await?.await
}

async fn next_within(deliveries: &mut Deliveries, within: Duration, what: &str) -> Delivery {
    tokio::time::timeout(within, deliveries.next())
        .await
        .unwrap_or_else(|_| panic!("{what}: no delivery within {within:?}"))
        .unwrap_or_else(|| panic!("{what}: deliveries ended"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

async fn next(deliveries: &mut Deliveries, what: &str) -> Delivery {
    next_within(deliveries, DEADLINE, what).await
}

/// Asserts that nothing is delivered for `within` (a bounded wait: proves an absence).
async fn nothing_within(deliveries: &mut Deliveries, within: Duration, what: &str) {
    if let Ok(item) = tokio::time::timeout(within, deliveries.next()).await {
        panic!("{what}: unexpected {item:?}");
    }
}

fn settle(result: crate::Result<()>, what: &str) {
    result.unwrap_or_else(|e| panic!("{what}: {e}"));
}

fn sequence_and_count(delivery: &Delivery) -> (u64, u64) {
    (delivery.info.stream_sequence, delivery.info.delivered)
}

/// `ensure_stream` accepts an existing stream of the same name and leaves it as it is;
/// another stream may not capture the same subjects.
pub async fn ensure_stream_is_idempotent(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    fixture.publish("a", b"1").await;
    streams
        .ensure_stream(fixture.config.clone())
        .await
        .expect("ensure the same stream again");
    let mut changed = fixture.config.clone();
    let other_prefix = unique("conf");
    changed.subjects = vec![format!("{other_prefix}.>")];
    changed.max_msgs = 1;
    streams
        .ensure_stream(changed)
        .await
        .expect("ensure an existing stream with other settings");
    let refused = publish(
        streams,
        Message::new(format!("{other_prefix}.a"), Vec::new()),
    )
    .await;
    assert!(
        matches!(refused, Err(Error::NoResponders { .. })),
        "an existing stream keeps its subjects: {refused:?}"
    );
    fixture.publish("b", b"2").await;
    assert_eq!(
        fixture.len().await,
        2,
        "an existing stream keeps its limits"
    );
    let mut overlapping = fixture.config.clone();
    overlapping.name = unique("CONF_");
    overlapping.subjects = vec![fixture.subject("x")];
    assert!(
        streams.ensure_stream(overlapping).await.is_err(),
        "a stream overlapping another's subjects is refused"
    );
}

/// Acknowledgements carry the stream and strictly increasing sequences, in publish order.
pub async fn publish_acks_increasing_sequences(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let acks = fixture.publish_n("seq", 10).await;
    for ack in &acks {
        assert_eq!(ack.stream, fixture.name());
        assert!(!ack.duplicate, "nothing was repeated: {ack:?}");
    }
    let sequences: Vec<u64> = acks.iter().map(|a| a.sequence).collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "sequences increase: {sequences:?}"
    );
    assert_eq!(fixture.len().await, 10);
}

/// A repeated `Nats-Msg-Id` is acknowledged as a duplicate of the first and not stored.
pub async fn duplicate_msg_ids_are_not_stored(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let with_id = |id: &str, payload: &[u8]| {
        let mut headers = Headers::new();
        headers.insert(MSG_ID_HEADER, id);
        Message {
            headers,
            ..Message::new(fixture.subject("dedupe"), payload.to_vec())
        }
    };
    let (x, y) = (unique("id-"), unique("id-"));
    let first = publish(streams, with_id(&x, b"first"))
        .await
        .expect("publish");
    let repeated = publish(streams, with_id(&x, b"again"))
        .await
        .expect("publish");
    assert!(!first.duplicate);
    assert!(repeated.duplicate, "same id: duplicate");
    assert_eq!(
        repeated.sequence, first.sequence,
        "a duplicate names the original"
    );
    let other = publish(streams, with_id(&y, b"other"))
        .await
        .expect("publish");
    assert!(!other.duplicate);
    assert!(other.sequence > first.sequence);
    assert_eq!(fixture.len().await, 2);
    let mut deliveries = fixture.consume(fixture.consumer(StartAt::First)).await;
    for expected in [&b"first"[..], b"other"] {
        let delivery = next(&mut deliveries, "deduplicated messages").await;
        assert_eq!(delivery.message.payload.as_ref(), expected);
    }
}

/// Publishing to a subject no stream captures fails with no responders.
pub async fn publish_to_an_uncaptured_subject_fails(streams: &dyn Streams) {
    let subject = format!("{}.nowhere", unique("conf"));
    let result = publish(streams, Message::new(subject, b"x".to_vec())).await;
    assert!(
        matches!(result, Err(Error::NoResponders { .. })),
        "no stream captures it: {result:?}"
    );
}

/// A consumer starting with the first message gets every message in order, as published
/// (subject, headers, payload; no reply subject).
pub async fn start_first_gets_every_message(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let mut headers = Headers::new();
    headers.insert("X-Conformance", "yes");
    let message = Message {
        headers,
        reply: Some(unique("_INBOX.conf.")),
        ..Message::new(fixture.subject("first.a"), b"0".to_vec())
    };
    let before = SystemTime::now() - Duration::from_secs(1);
    let first = publish(streams, message).await.expect("publish");
    let rest = fixture.publish_n("first.b", 2).await;
    let mut deliveries = fixture.consume(fixture.consumer(StartAt::First)).await;
    let delivery = next(&mut deliveries, "first message").await;
    assert_eq!(sequence_and_count(&delivery), (first.sequence, 1));
    assert_eq!(delivery.message.subject, fixture.subject("first.a"));
    assert_eq!(delivery.message.headers.get("X-Conformance"), Some("yes"));
    assert_eq!(delivery.message.payload.as_ref(), b"0");
    assert_eq!(delivery.message.reply, None, "no reply subject");
    assert!(
        delivery.info.published >= before,
        "published: {:?}",
        delivery.info.published
    );
    for ack in rest {
        let delivery = next(&mut deliveries, "later messages").await;
        assert_eq!(sequence_and_count(&delivery), (ack.sequence, 1));
    }
}

/// A new consumer starting with new messages skips those published before it.
pub async fn start_new_skips_earlier_messages(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    fixture.publish_n("old", 3).await;
    let mut deliveries = fixture.consume(fixture.consumer(StartAt::New)).await;
    let new = fixture.publish_n("new", 2).await;
    for ack in new {
        let delivery = next(&mut deliveries, "new messages").await;
        assert_eq!(
            delivery.info.stream_sequence, ack.sequence,
            "earlier messages are skipped"
        );
    }
}

/// A consumer starting at a sequence begins with that message.
pub async fn start_sequence_begins_there(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let acks = fixture.publish_n("seq", 5).await;
    let start = acks[2].sequence;
    let mut deliveries = fixture
        .consume(fixture.consumer(StartAt::Sequence(start)))
        .await;
    for ack in &acks[2..] {
        let delivery = next(&mut deliveries, "from the sequence").await;
        assert_eq!(delivery.info.stream_sequence, ack.sequence);
    }
}

/// A consumer starting at a time begins with the first message published at or after it.
pub async fn start_time_begins_there(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    fixture.publish_n("before", 2).await;
    // Keep the timestamps of both sides apart from the start time.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let since = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = fixture.publish_n("after", 2).await;
    let mut deliveries = fixture
        .consume(fixture.consumer(StartAt::Time(since)))
        .await;
    let delivery = next(&mut deliveries, "from the time").await;
    assert_eq!(delivery.info.stream_sequence, after[0].sequence);
    assert!(delivery.info.published >= since);
}

/// Two bindings of one consumer share its messages: each message goes to exactly one of
/// them, and both get some when they take messages concurrently.
pub async fn bindings_of_one_consumer_share_its_messages(streams: &dyn Streams) {
    const TOTAL: usize = 200;
    let fixture = Fixture::limits(streams).await;
    let mut config = fixture.consumer(StartAt::First);
    config.max_ack_pending = 8;
    let bindings = [
        fixture.consume(config.clone()).await,
        fixture.consume(config).await,
    ];
    let seen = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + DEADLINE * 4;
    let workers: Vec<_> = bindings
        .into_iter()
        .map(|mut deliveries| {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while seen.load(Ordering::SeqCst) < TOTAL {
                    assert!(Instant::now() < deadline, "stalled after {mine:?}");
                    let wait = Duration::from_millis(100);
                    let Ok(item) = tokio::time::timeout(wait, deliveries.next()).await else {
                        continue;
                    };
                    let delivery = item.expect("binding open").expect("delivery");
                    mine.push(delivery.info.stream_sequence);
                    seen.fetch_add(1, Ordering::SeqCst);
                    // A little work, as a worker would do, so that the other binding gets
                    // its turn.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    delivery.ack().await.expect("ack");
                }
                deliveries.stop().await;
                mine
            })
        })
        .collect();
    for n in 0..TOTAL / 50 {
        fixture.publish_n(&format!("batch{n}"), 50).await;
    }
    let mut counts = BTreeMap::new();
    let mut shares = Vec::new();
    for worker in workers {
        let mine = worker.await.expect("worker");
        shares.push(mine.len());
        for sequence in mine {
            *counts.entry(sequence).or_insert(0) += 1;
        }
    }
    let repeated: Vec<_> = counts.iter().filter(|&(_, &n)| n > 1).collect();
    assert!(
        repeated.is_empty(),
        "delivered more than once: {repeated:?}"
    );
    assert_eq!(counts.len(), TOTAL, "every message delivered");
    assert!(
        shares.iter().all(|&n| n > 0),
        "both bindings get messages: {shares:?}"
    );
}

/// Separate consumers each get every message their filter matches.
pub async fn separate_consumers_each_see_every_message(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let mut all_a = fixture.consume(fixture.consumer(StartAt::First)).await;
    let mut all_b = fixture.consume(fixture.consumer(StartAt::First)).await;
    let mut odd_only = fixture.consumer(StartAt::First);
    odd_only.filter_subject = fixture.subject("odd");
    let mut odd = fixture.consume(odd_only).await;
    let mut acks = Vec::new();
    for i in 0..20u8 {
        let rest = if i % 2 == 1 { "odd" } else { "even" };
        acks.push(fixture.publish(rest, &[i]).await);
    }
    for deliveries in [&mut all_a, &mut all_b] {
        for (i, ack) in acks.iter().enumerate() {
            let delivery = next(deliveries, "every message").await;
            assert_eq!(delivery.info.stream_sequence, ack.sequence, "message {i}");
            delivery.ack().await.expect("ack");
        }
    }
    for ack in acks.iter().skip(1).step_by(2) {
        let delivery = next(&mut odd, "filtered messages").await;
        assert_eq!(delivery.info.stream_sequence, ack.sequence);
        assert_eq!(delivery.message.subject, fixture.subject("odd"));
    }
}

/// At most `max_ack_pending` deliveries await a settle at once, over all bindings; a settle
/// makes room for the next.
pub async fn max_ack_pending_caps_unsettled_deliveries(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let mut config = fixture.consumer(StartAt::First);
    config.max_ack_pending = 3;
    let mut a = fixture.consume(config.clone()).await;
    let mut b = fixture.consume(config).await;
    fixture.publish_n("capped", 10).await;
    let mut both = futures::stream::select(&mut a, &mut b);
    let mut held = Vec::new();
    for n in 0..3 {
        let delivery = tokio::time::timeout(DEADLINE, both.next())
            .await
            .unwrap_or_else(|_| panic!("only {n} deliveries within {DEADLINE:?}"))
            .expect("open")
            .expect("delivery");
        held.push(delivery);
    }
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(500), both.next()).await {
        panic!("a fourth unsettled delivery: {item:?}");
    }
    held[0].ack().await.expect("ack");
    let fourth = tokio::time::timeout(DEADLINE, both.next())
        .await
        .expect("a settle makes room")
        .expect("open")
        .expect("delivery");
    assert_eq!(fourth.info.delivered, 1, "a new message, not a redelivery");
}

/// A delivery left unsettled comes again after `ack_wait`, counted.
pub async fn unsettled_deliveries_come_again_after_ack_wait(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let mut config = fixture.consumer(StartAt::First);
    config.ack_wait = ACK_WAIT;
    let mut deliveries = fixture.consume(config).await;
    let ack = fixture.publish("a", b"x").await;
    let first = next(&mut deliveries, "first delivery").await;
    let delivered_at = Instant::now();
    assert_eq!(sequence_and_count(&first), (ack.sequence, 1));
    let again = next_within(&mut deliveries, ACK_WAIT + DEADLINE, "redelivery").await;
    assert_eq!(sequence_and_count(&again), (ack.sequence, 2));
    assert_eq!(again.message.payload.as_ref(), b"x");
    let waited = delivered_at.elapsed();
    assert!(waited + EARLY >= ACK_WAIT, "redelivered after {waited:?}");
    settle(again.ack().await, "ack");
}

/// A nak'ed delivery comes again after the nak delay, not before, counted.
pub async fn nak_redelivers_after_its_delay(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let mut deliveries = fixture.consume(fixture.consumer(StartAt::First)).await;
    let ack = fixture.publish("a", b"x").await;
    let first = next(&mut deliveries, "first delivery").await;
    settle(first.nak(ACK_WAIT).await, "nak");
    let naked_at = Instant::now();
    nothing_within(&mut deliveries, ACK_WAIT - EARLY, "before the nak delay").await;
    let second = next(&mut deliveries, "after the nak delay").await;
    assert_eq!(sequence_and_count(&second), (ack.sequence, 2));
    assert!(naked_at.elapsed() + EARLY >= ACK_WAIT);
    settle(second.nak(Duration::ZERO).await, "nak without delay");
    let third = next(&mut deliveries, "after a nak without delay").await;
    assert_eq!(sequence_and_count(&third), (ack.sequence, 3));
    settle(third.ack().await, "ack");
}

/// `Progress` restarts the `ack_wait` timer: no redelivery while it keeps coming.
pub async fn progress_postpones_redelivery(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let mut config = fixture.consumer(StartAt::First);
    config.ack_wait = ACK_WAIT;
    let mut deliveries = fixture.consume(config).await;
    let ack = fixture.publish("a", b"x").await;
    let delivery = next(&mut deliveries, "first delivery").await;
    // Two rounds of 0.6 s: without progress, the second would see the redelivery.
    for round in 0..2 {
        let what = format!("while in progress ({round})");
        nothing_within(&mut deliveries, ACK_WAIT * 6 / 10, &what).await;
        settle(delivery.in_progress().await, "progress");
    }
    let last_progress = Instant::now();
    let again = next_within(&mut deliveries, ACK_WAIT + DEADLINE, "after progress").await;
    assert_eq!(sequence_and_count(&again), (ack.sequence, 2));
    let waited = last_progress.elapsed();
    assert!(
        waited + EARLY >= ACK_WAIT,
        "redelivered {waited:?} after the last progress"
    );
    settle(again.ack().await, "ack");
}

/// Acked and terminated deliveries never come again, even when settled after their
/// binding is gone.
pub async fn acked_and_terminated_never_come_again(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let mut config = fixture.consumer(StartAt::First);
    config.ack_wait = ACK_WAIT;
    let mut deliveries = fixture.consume(config.clone()).await;
    fixture.publish_n("a", 3).await;
    let acked = next(&mut deliveries, "first").await;
    let terminated = next(&mut deliveries, "second").await;
    let late = next(&mut deliveries, "third").await;
    settle(acked.ack().await, "ack");
    settle(terminated.term().await, "term");
    drop(deliveries);
    settle(late.ack().await, "ack after the binding is gone");
    let mut rebound = fixture.consume(config).await;
    nothing_within(&mut rebound, ACK_WAIT * 2, "after ack and term").await;
    let newer = fixture.publish("b", b"new").await;
    let delivery = next(&mut rebound, "a newer message").await;
    assert_eq!(sequence_and_count(&delivery), (newer.sequence, 1));
}

/// A work queue removes acked and terminated messages, and keeps nak'ed ones.
pub async fn work_queue_removes_settled_messages(streams: &dyn Streams) {
    let fixture = Fixture::new(streams, Retention::WorkQueue, -1).await;
    fixture.publish_n("jobs", 3).await;
    assert_eq!(fixture.len().await, 3);
    let mut deliveries = fixture.consume(fixture.consumer(StartAt::First)).await;
    let acked = next(&mut deliveries, "first").await;
    let terminated = next(&mut deliveries, "second").await;
    let retried = next(&mut deliveries, "third").await;
    settle(acked.ack().await, "ack");
    settle(terminated.term().await, "term");
    settle(retried.nak(Duration::ZERO).await, "nak");
    fixture.wait_for_len(1, "after ack and term").await;
    let again = next(&mut deliveries, "nak'ed").await;
    assert_eq!(again.info.stream_sequence, retried.info.stream_sequence);
    settle(again.ack().await, "ack");
    fixture.wait_for_len(0, "after the last ack").await;
}

/// On a work queue, a new consumer must start with the first message and must not overlap
/// another consumer's filter; binding an existing one again is fine.
pub async fn work_queue_consumers_must_not_overlap(streams: &dyn Streams) {
    let fixture = Fixture::new(streams, Retention::WorkQueue, -1).await;
    let filtered = |filter: &str| {
        let mut config = fixture.consumer(StartAt::First);
        config.filter_subject = fixture.subject(filter);
        config
    };
    let a = filtered("a.>");
    let _a = fixture.consume(a.clone()).await;
    let _b = fixture.consume(filtered("b")).await;
    for overlapping in ["a.x", ">", "*.x"] {
        let result = streams.consume(fixture.name(), filtered(overlapping)).await;
        assert!(
            result.is_err(),
            "`{overlapping}` overlaps `a.>`, yet it was accepted"
        );
    }
    let mut not_first = filtered("c");
    not_first.start = StartAt::New;
    assert!(
        streams.consume(fixture.name(), not_first).await.is_err(),
        "a work-queue consumer must start with the first message"
    );
    let _again = fixture.consume(a).await;
}

/// A full work queue refuses a publish (a command is never evicted); a limits stream
/// evicts its oldest message instead.
pub async fn full_streams_refuse_or_evict_by_retention(streams: &dyn Streams) {
    let queue = Fixture::new(streams, Retention::WorkQueue, 2).await;
    queue.publish_n("jobs", 2).await;
    let refused = publish(streams, Message::new(queue.subject("jobs"), b"x".to_vec())).await;
    assert!(refused.is_err(), "a full work queue stored: {refused:?}");
    assert_eq!(queue.len().await, 2);
    let mut deliveries = queue.consume(queue.consumer(StartAt::First)).await;
    settle(next(&mut deliveries, "job").await.ack().await, "ack");
    queue.wait_for_len(1, "after an ack").await;
    queue.publish("jobs", b"room again").await;

    let limits = Fixture::new(streams, Retention::Limits, 3).await;
    let acks = limits.publish_n("events", 5).await;
    assert_eq!(limits.len().await, 3);
    let mut deliveries = limits.consume(limits.consumer(StartAt::First)).await;
    let oldest = next(&mut deliveries, "oldest kept").await;
    assert_eq!(oldest.info.stream_sequence, acks[2].sequence);
}

/// Binding an existing consumer again continues where it was: acked messages do not come
/// again, whatever the new binding's start says.
pub async fn rebinding_keeps_the_position(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let mut config = fixture.consumer(StartAt::First);
    config.ack_wait = ACK_WAIT;
    let acks = fixture.publish_n("a", 4).await;
    let mut first = fixture.consume(config.clone()).await;
    for _ in 0..2 {
        settle(next(&mut first, "first binding").await.ack().await, "ack");
    }
    drop(first);
    // Messages the first binding took but never returned come again after ack_wait.
    let mut second = fixture.consume(config).await;
    let mut rest = Vec::new();
    while rest.len() < 2 {
        let delivery = next_within(&mut second, ACK_WAIT + DEADLINE, "second binding").await;
        let sequence = delivery.info.stream_sequence;
        assert!(
            sequence >= acks[2].sequence,
            "acked message {sequence} came again: the position was lost"
        );
        settle(delivery.ack().await, "ack");
        if !rest.contains(&sequence) {
            rest.push(sequence);
        }
    }
}

/// `stop` ends the stream; what was delivered and left unsettled comes again, to another
/// binding, after `ack_wait`.
pub async fn stop_ends_the_stream_and_unsettled_come_again(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let mut config = fixture.consumer(StartAt::First);
    config.ack_wait = ACK_WAIT;
    let ack = fixture.publish("a", b"x").await;
    let mut deliveries = fixture.consume(config.clone()).await;
    let unsettled = next(&mut deliveries, "before stop").await;
    assert_eq!(sequence_and_count(&unsettled), (ack.sequence, 1));
    deliveries.stop().await;
    let ended = tokio::time::timeout(DEADLINE, async {
        while let Some(item) = deliveries.next().await {
            item.expect("delivery while stopping");
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream did not end within {DEADLINE:?} of stop"
    );
    let mut other = fixture.consume(config).await;
    let again = next_within(&mut other, ACK_WAIT + DEADLINE, "after stop").await;
    assert_eq!(sequence_and_count(&again), (ack.sequence, 2));
    settle(again.ack().await, "ack");
}

/// `delete_consumer` removes the consumer and its position (a new one of the same name
/// starts afresh); deleting a missing consumer is not an error.
pub async fn delete_consumer_forgets_the_position(streams: &dyn Streams) {
    let fixture = Fixture::limits(streams).await;
    let config = fixture.consumer(StartAt::First);
    let acks = fixture.publish_n("a", 2).await;
    let mut deliveries = fixture.consume(config.clone()).await;
    for _ in &acks {
        settle(
            next(&mut deliveries, "before delete").await.ack().await,
            "ack",
        );
    }
    drop(deliveries);
    streams
        .delete_consumer(fixture.name(), &config.name)
        .await
        .expect("delete consumer");
    streams
        .delete_consumer(fixture.name(), &config.name)
        .await
        .expect("delete a missing consumer");
    let mut fresh = fixture.consume(config).await;
    let delivery = next(&mut fresh, "after delete").await;
    assert_eq!(sequence_and_count(&delivery), (acks[0].sequence, 1));
}

/// `purge_subject` removes that subject's messages, pending deliveries included, and
/// nothing else, in a work queue too; a purged delivery never comes again.
pub async fn purge_subject_removes_only_that_subject(streams: &dyn Streams) {
    let fixture = Fixture::new(streams, Retention::WorkQueue, -1).await;
    fixture.publish_n("progress.x", 2).await;
    fixture.publish_n("progress.y", 1).await;
    let job = fixture.publish("jobs", b"keep").await;
    let purged = streams
        .purge_subject(fixture.name(), &fixture.subject("progress.x"))
        .await
        .expect("purge");
    assert_eq!(purged, 2);
    fixture.wait_for_len(2, "after the purge").await;
    let again = streams
        .purge_subject(fixture.name(), &fixture.subject("progress.x"))
        .await
        .expect("purge again");
    assert_eq!(again, 0);
    let mut config = fixture.consumer(StartAt::First);
    config.filter_subject = fixture.subject("jobs");
    let mut deliveries = fixture.consume(config).await;
    let delivery = next(&mut deliveries, "the job").await;
    assert_eq!(delivery.info.stream_sequence, job.sequence);
    assert!(
        streams
            .purge_subject(fixture.name(), &fixture.subject("progress.*"))
            .await
            .is_err(),
        "a wildcard purge must be refused"
    );
    streams
        .purge_subject(fixture.name(), &fixture.subject("jobs"))
        .await
        .expect("purge the pending job");
    fixture
        .wait_for_len(1, "after purging the pending job")
        .await;
    // Asked for at once, yet it is gone.
    let _ = delivery.nak(Duration::ZERO).await;
    nothing_within(&mut deliveries, Duration::from_millis(300), "a purged job").await;
}

/// `next_message` reads without consuming: the first message at or after a sequence whose
/// subject matches the filter, with its headers, payload and time; `None` past the last one
/// and on a missing stream.
pub async fn next_message_reads_by_sequence_and_filter(streams: &dyn Streams) {
    let fixture = &Fixture::limits(streams).await;
    let before = SystemTime::now() - CLOCK_SLACK;
    let mut headers = Headers::new();
    headers.insert("X-Kind", "first");
    let first = publish(
        streams,
        Message {
            headers: headers.clone(),
            ..Message::new(fixture.subject("a.x"), b"one".to_vec())
        },
    )
    .await
    .expect("publish a.x");
    let other = fixture.publish("b.x", b"two").await;
    let third = fixture.publish("a.y", b"three").await;
    let after = SystemTime::now() + CLOCK_SLACK;
    let read = |from, filter: String| async move {
        streams
            .next_message(fixture.name(), from, &filter)
            .await
            .unwrap_or_else(|e| panic!("next_message from {from} `{filter}`: {e}"))
    };
    let found = read(0, fixture.subject(">"))
        .await
        .expect("the first message");
    assert_eq!(found.sequence, first.sequence);
    assert_eq!(found.message.subject, fixture.subject("a.x"));
    assert_eq!(&found.message.payload[..], b"one");
    assert_eq!(found.message.headers.get("X-Kind"), Some("first"));
    assert!(
        (before..=after).contains(&found.published),
        "stored at {:?}, published between {before:?} and {after:?}",
        found.published
    );
    let later = read(first.sequence + 1, fixture.subject("a.*")).await;
    assert_eq!(later.map(|m| m.sequence), Some(third.sequence), "skips b.x");
    let exact = read(other.sequence, fixture.subject("b.x")).await;
    assert_eq!(exact.map(|m| m.sequence), Some(other.sequence), "at `from`");
    assert_eq!(read(third.sequence + 1, fixture.subject(">")).await, None);
    assert_eq!(read(0, fixture.subject("c.>")).await, None);
    let missing = streams
        .next_message(&unique("MISSING_"), 1, ">")
        .await
        .expect("a missing stream is no error");
    assert_eq!(missing, None);
    // Reading consumed nothing.
    let mut deliveries = fixture.consume(fixture.consumer(StartAt::First)).await;
    assert_eq!(
        next(&mut deliveries, "after reads")
            .await
            .info
            .stream_sequence,
        first.sequence
    );
}

/// `delete_message` removes one message, which a consumer then never gets, nor gets again
/// when it was pending; a second delete, a missing sequence or stream is `false`.
pub async fn delete_message_removes_one_message(streams: &dyn Streams) {
    let fixture = &Fixture::limits(streams).await;
    let acks = fixture.publish_n("a", 3).await;
    let delete = |sequence| async move {
        streams
            .delete_message(fixture.name(), sequence)
            .await
            .unwrap_or_else(|e| panic!("delete {sequence}: {e}"))
    };
    assert!(delete(acks[1].sequence).await, "a stored message");
    assert!(!delete(acks[1].sequence).await, "deleted twice");
    assert!(!delete(acks[2].sequence + 100).await, "never stored");
    let missing = streams
        .delete_message(&unique("MISSING_"), 1)
        .await
        .expect("a missing stream is no error");
    assert!(!missing);
    fixture.wait_for_len(2, "after a delete").await;
    let left = streams
        .next_message(fixture.name(), acks[1].sequence, &fixture.subject(">"))
        .await
        .expect("next_message");
    assert_eq!(left.map(|m| m.sequence), Some(acks[2].sequence));
    let mut deliveries = fixture.consume(fixture.consumer(StartAt::First)).await;
    let pending = next(&mut deliveries, "the first message").await;
    assert_eq!(pending.info.stream_sequence, acks[0].sequence);
    let last = next(&mut deliveries, "the message after the deleted one").await;
    assert_eq!(last.info.stream_sequence, acks[2].sequence);
    settle(last.ack().await, "ack");
    assert!(delete(acks[0].sequence).await, "a pending message");
    fixture
        .wait_for_len(1, "after deleting the pending message")
        .await;
    // Asked for at once, yet it is gone.
    let _ = pending.nak(Duration::ZERO).await;
    nothing_within(
        &mut deliveries,
        Duration::from_millis(300),
        "a deleted message",
    )
    .await;
}
