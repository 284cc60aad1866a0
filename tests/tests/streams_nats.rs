//! The JetStream streams adapter against a real nats-server: publish acknowledgements and
//! deduplication, durable pull consumers shared by bindings, settles and redeliveries, work
//! queues, consumer positions.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use aegis::Error;
use aegis::adapters::nats::{NatsBus, NatsOptions, NatsStreams};
use aegis::ports::{
    ConsumerConfig, Deliveries, Delivery, Headers, MSG_ID_HEADER, Message, PubAck, Retention,
    StartAt, StreamConfig, Streams,
};
use aegis_tests::nats_server::NatsServer;
use futures::StreamExt;

/// How long a delivery that should come may take.
const ARRIVES: Duration = Duration::from_secs(5);

/// A connection with streams, and the server it talks to (dropped last).
struct Fixture {
    streams: NatsStreams,
    bus: NatsBus,
    server: NatsServer,
}

impl Fixture {
    async fn new() -> Self {
        let server = NatsServer::start();
        let bus = connect(&server).await;
        Fixture {
            streams: NatsStreams::new(&bus),
            bus,
            server,
        }
    }

    async fn with_stream(retention: Retention) -> Self {
        let fixture = Self::new().await;
        fixture
            .streams
            .ensure_stream(stream_config(retention))
            .await
            .expect("stream");
        fixture
    }

    async fn publish(&self, subject: &str, id: &str) -> PubAck {
        self.streams
            .publish(message(subject, id))
            .await
            .expect("sent")
            .await
            .expect("stored")
    }

    async fn consume(&self, config: ConsumerConfig) -> Deliveries {
        self.streams
            .consume("JOBS", config)
            .await
            .expect("consumer binds")
    }

    /// The consumer as the server sees it.
    async fn consumer_info(&self, name: &str) -> async_nats::jetstream::consumer::Info {
        async_nats::jetstream::new(self.bus.client().clone())
            .get_stream_no_info("JOBS")
            .await
            .expect("stream handle")
            .consumer_info(name)
            .await
            .expect("consumer info")
    }
}

async fn connect(server: &NatsServer) -> NatsBus {
    let (bus, _kv) = NatsOptions::new(server.url())
        .retry_initial_connect(false)
        .connect_parts()
        .await
        .expect("connects");
    bus
}

fn stream_config(retention: Retention) -> StreamConfig {
    StreamConfig {
        name: "JOBS".into(),
        subjects: vec!["jobs.>".into()],
        retention,
        max_msgs: 1_000,
        duplicate_window: Duration::from_secs(60),
    }
}

fn consumer(name: &str, filter: &str, start: StartAt) -> ConsumerConfig {
    ConsumerConfig {
        fetch_ahead: 64,
        name: name.into(),
        filter_subject: filter.into(),
        start,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 64,
        inactive_threshold: None,
    }
}

/// A message with `id` as its deduplication id and as its payload.
fn message(subject: &str, id: &str) -> Message {
    let mut headers = Headers::new();
    headers.insert(MSG_ID_HEADER, id);
    headers.insert("X-Test", "yes");
    Message {
        subject: subject.into(),
        reply: None,
        headers,
        payload: id.to_owned().into(),
    }
}

async fn next(deliveries: &mut Deliveries, within: Duration) -> Delivery {
    tokio::time::timeout(within, deliveries.next())
        .await
        .unwrap_or_else(|_| panic!("no delivery within {within:?}"))
        .expect("the binding is open")
        .expect("a delivery, not an error")
}

async fn nothing_within(deliveries: &mut Deliveries, wait: Duration) {
    if let Ok(item) = tokio::time::timeout(wait, deliveries.next()).await {
        panic!("expected nothing for {wait:?}, got {item:?}");
    }
}

fn payload(delivery: &Delivery) -> &str {
    std::str::from_utf8(&delivery.message.payload).expect("utf-8 payload")
}

#[tokio::test]
async fn publish_is_acknowledged_and_a_repeated_id_is_a_duplicate() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    // An existing stream is accepted as it is, even with other settings.
    let mut other = stream_config(Retention::Limits);
    other.max_msgs = 5;
    fx.streams.ensure_stream(other).await.expect("exists");

    let first = fx.publish("jobs.a", "m-1").await;
    assert_eq!(
        first,
        PubAck {
            stream: "JOBS".into(),
            sequence: 1,
            duplicate: false
        }
    );
    let again = fx.publish("jobs.a", "m-1").await;
    assert_eq!((again.sequence, again.duplicate), (1, true));
    let second = fx.publish("jobs.b", "m-2").await;
    assert_eq!((second.sequence, second.duplicate), (2, false));
    assert_eq!(fx.streams.stream_len("JOBS").await.expect("len"), 2);

    // Many in flight at once, acknowledged in order.
    let mut pending = Vec::new();
    for n in 0..64 {
        let sent = fx.streams.publish(message("jobs.c", &format!("bulk-{n}")));
        pending.push(sent.await.expect("sent"));
    }
    let acks = futures::future::try_join_all(pending)
        .await
        .expect("stored");
    let sequences: Vec<u64> = acks.iter().map(|a| a.sequence).collect();
    assert_eq!(sequences, (3..67).collect::<Vec<_>>());
    assert_eq!(fx.streams.stream_len("JOBS").await.expect("len"), 66);
}

#[tokio::test]
async fn publishing_to_a_subject_no_stream_captures_is_no_responders() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    let pending = fx
        .streams
        .publish(message("elsewhere.x", "m-1"))
        .await
        .expect("sent");
    assert_eq!(
        pending.await,
        Err(Error::NoResponders {
            subject: "elsewhere.x".into()
        })
    );
    assert!(matches!(
        fx.streams.stream_len("MISSING").await,
        Err(Error::Invalid { .. })
    ));
}

#[tokio::test]
async fn delivery_carries_message_info_and_headers() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    let before = SystemTime::now() - Duration::from_secs(1);
    fx.publish("jobs.a", "m-1").await;
    let mut deliveries = fx.consume(consumer("c", "jobs.>", StartAt::First)).await;
    let delivery = next(&mut deliveries, ARRIVES).await;
    assert_eq!(delivery.message.subject, "jobs.a");
    assert_eq!(delivery.message.reply, None);
    assert_eq!(delivery.message.headers.get(MSG_ID_HEADER), Some("m-1"));
    assert_eq!(delivery.message.headers.get("X-Test"), Some("yes"));
    assert_eq!(payload(&delivery), "m-1");
    assert_eq!(
        (delivery.info.stream_sequence, delivery.info.delivered),
        (1, 1)
    );
    assert!(delivery.info.published >= before);
    assert!(delivery.info.published <= SystemTime::now() + Duration::from_secs(1));
    delivery.ack().await.expect("ack confirmed");
    // Acked: never again, even after ack_wait would have passed.
    nothing_within(&mut deliveries, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn two_bindings_of_one_consumer_split_the_messages_exactly_once() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    let total = 40;
    for n in 0..total {
        fx.publish("jobs.a", &format!("m-{n}")).await;
    }
    let mut config = consumer("shared", "jobs.>", StartAt::First);
    config.max_ack_pending = 2;
    let mut bindings = [
        fx.consume(config.clone()).await,
        fx.consume(config.clone()).await,
    ];
    // Each binding works slowly, so that neither can take everything.
    let work = bindings
        .iter_mut()
        .enumerate()
        .map(|(i, deliveries)| async move {
            let mut seen = Vec::new();
            while let Ok(Some(item)) =
                tokio::time::timeout(Duration::from_millis(1500), deliveries.next()).await
            {
                let delivery = item.expect("delivery");
                tokio::time::sleep(Duration::from_millis(10)).await; // the work
                delivery.ack().await.expect("ack");
                seen.push((delivery.info.stream_sequence, i));
            }
            seen
        });
    let seen: Vec<(u64, usize)> = futures::future::join_all(work)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut by_sequence: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (sequence, binding) in &seen {
        by_sequence.entry(*sequence).or_default().push(*binding);
    }
    assert_eq!(seen.len(), total, "every message once: {by_sequence:?}");
    assert_eq!(by_sequence.len(), total, "{by_sequence:?}");
    for binding in 0..2 {
        assert!(
            seen.iter().any(|(_, b)| *b == binding),
            "binding {binding} got nothing: {by_sequence:?}"
        );
    }
}

#[tokio::test]
async fn separate_consumers_each_see_every_matching_message() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    let mut all = fx.consume(consumer("all", "jobs.>", StartAt::New)).await;
    let mut only_b = fx.consume(consumer("only_b", "jobs.b", StartAt::New)).await;
    fx.publish("jobs.a", "m-1").await;
    fx.publish("jobs.b", "m-2").await;
    for expected in ["m-1", "m-2"] {
        let delivery = next(&mut all, ARRIVES).await;
        assert_eq!(payload(&delivery), expected);
        delivery.ack().await.expect("ack");
    }
    let delivery = next(&mut only_b, ARRIVES).await;
    assert_eq!(payload(&delivery), "m-2");
    delivery.ack().await.expect("ack");
    nothing_within(&mut only_b, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_nak_with_delay_redelivers_after_the_delay() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    let mut deliveries = fx.consume(consumer("c", "jobs.>", StartAt::New)).await;
    fx.publish("jobs.a", "m-1").await;
    let first = next(&mut deliveries, ARRIVES).await;
    assert_eq!(first.info.delivered, 1);
    let delay = Duration::from_millis(600);
    let naked = Instant::now();
    first.nak(delay).await.expect("nak");
    let again = next(&mut deliveries, ARRIVES).await;
    let after = naked.elapsed();
    assert!(
        after >= delay - Duration::from_millis(50),
        "after {after:?}"
    );
    assert_eq!((again.info.stream_sequence, again.info.delivered), (1, 2));
    again.ack().await.expect("ack");
}

#[tokio::test]
async fn an_unsettled_delivery_comes_again_after_ack_wait() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    let mut config = consumer("c", "jobs.>", StartAt::New);
    config.ack_wait = Duration::from_millis(700);
    let mut deliveries = fx.consume(config).await;
    fx.publish("jobs.a", "m-1").await;
    let first = next(&mut deliveries, ARRIVES).await;
    let received = Instant::now();
    let again = next(&mut deliveries, ARRIVES).await;
    let after = received.elapsed();
    assert!(after >= Duration::from_millis(600), "after {after:?}");
    assert_eq!((again.info.stream_sequence, again.info.delivered), (1, 2));
    // A settle through the first delivery's handle still reaches the same message.
    first.ack().await.expect("ack");
    nothing_within(&mut deliveries, Duration::from_millis(1000)).await;
}

#[tokio::test]
async fn progress_postpones_redelivery() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    let mut config = consumer("c", "jobs.>", StartAt::New);
    config.ack_wait = Duration::from_millis(800);
    let mut deliveries = fx.consume(config).await;
    fx.publish("jobs.a", "m-1").await;
    let delivery = next(&mut deliveries, ARRIVES).await;
    // A keep-alive that outlives the delivery, as handlers use them.
    let acker = delivery.acker();
    drop(delivery);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2400) {
        acker
            .settle(aegis::ports::AckKind::Progress)
            .await
            .expect("progress");
        nothing_within(&mut deliveries, Duration::from_millis(300)).await;
    }
    acker.settle(aegis::ports::AckKind::Ack).await.expect("ack");
    nothing_within(&mut deliveries, Duration::from_millis(1200)).await;
}

#[tokio::test]
async fn a_terminated_delivery_never_comes_again() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    let mut config = consumer("c", "jobs.>", StartAt::New);
    config.ack_wait = Duration::from_millis(500);
    let mut deliveries = fx.consume(config).await;
    fx.publish("jobs.a", "m-1").await;
    next(&mut deliveries, ARRIVES)
        .await
        .term()
        .await
        .expect("term confirmed");
    nothing_within(&mut deliveries, Duration::from_millis(1200)).await;
}

#[tokio::test]
async fn a_work_queue_removes_settled_messages_and_refuses_an_overlapping_consumer() {
    let fx = Fixture::with_stream(Retention::WorkQueue).await;
    for n in 0..3 {
        fx.publish("jobs.a", &format!("m-{n}")).await;
    }
    assert_eq!(fx.streams.stream_len("JOBS").await.expect("len"), 3);
    let mut deliveries = fx
        .consume(consumer("workers", "jobs.>", StartAt::First))
        .await;
    let first = next(&mut deliveries, ARRIVES).await;
    let second = next(&mut deliveries, ARRIVES).await;
    let third = next(&mut deliveries, ARRIVES).await;
    first.ack().await.expect("ack");
    second.term().await.expect("term");
    // Confirmed settles: the stream has already removed them.
    assert_eq!(fx.streams.stream_len("JOBS").await.expect("len"), 1);
    third.ack().await.expect("ack");
    assert_eq!(fx.streams.stream_len("JOBS").await.expect("len"), 0);

    let overlapping = fx
        .streams
        .consume("JOBS", consumer("others", "jobs.a", StartAt::First))
        .await;
    let Err(error) = overlapping else {
        panic!("an overlapping consumer was created");
    };
    assert!(matches!(error, Error::Invalid { .. }), "{error:?}");
    // The server does not say which consumer is in the way; the error does.
    assert!(
        error
            .to_string()
            .contains("`workers` (filter `jobs.>`) already takes messages of `jobs.a`"),
        "{error}"
    );
    // Binding the same consumer again is fine.
    fx.consume(consumer("workers", "jobs.>", StartAt::First))
        .await;
}

#[tokio::test]
async fn a_full_work_queue_refuses_new_messages() {
    let fx = Fixture::new().await;
    let mut config = stream_config(Retention::WorkQueue);
    config.max_msgs = 2;
    fx.streams.ensure_stream(config).await.expect("stream");
    fx.publish("jobs.a", "m-1").await;
    fx.publish("jobs.a", "m-2").await;
    let refused = fx
        .streams
        .publish(message("jobs.a", "m-3"))
        .await
        .expect("sent")
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(fx.streams.stream_len("JOBS").await.expect("len"), 2);
}

#[tokio::test]
async fn an_existing_consumer_keeps_its_position_and_takes_new_settings() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    for n in 1..=4 {
        fx.publish("jobs.a", &format!("m-{n}")).await;
    }
    let mut config = consumer("durable", "jobs.>", StartAt::First);
    config.max_ack_pending = 2;
    config.ack_wait = Duration::from_secs(2);
    let mut deliveries = fx.consume(config.clone()).await;
    for expected in 1..=2 {
        let delivery = next(&mut deliveries, ARRIVES).await;
        assert_eq!(delivery.info.stream_sequence, expected);
        delivery.ack().await.expect("ack");
    }
    deliveries.stop().await;
    while deliveries.next().await.is_some() {}
    drop(deliveries);

    // Bound again with another start and other settings: the position stays.
    config.start = StartAt::Sequence(1);
    config.ack_wait = Duration::from_secs(1);
    config.max_ack_pending = 10;
    config.inactive_threshold = Some(Duration::from_secs(3600));
    let mut deliveries = fx.consume(config.clone()).await;
    let info = fx.consumer_info("durable").await;
    assert_eq!(info.config.ack_wait, Duration::from_secs(1));
    assert_eq!(info.config.max_ack_pending, 10);
    assert_eq!(info.config.inactive_threshold, Duration::from_secs(3600));
    assert_eq!(
        info.config.deliver_policy,
        async_nats::jetstream::consumer::DeliverPolicy::All
    );
    let mut sequences = Vec::new();
    // 3 and 4 (perhaps only after the old binding's ack_wait), never 1 or 2.
    while sequences.len() < 2 {
        let delivery = next(&mut deliveries, ARRIVES).await;
        delivery.ack().await.expect("ack");
        sequences.push(delivery.info.stream_sequence);
    }
    sequences.sort_unstable();
    assert_eq!(sequences, [3, 4]);

    // Its filter, though, cannot change.
    config.filter_subject = "jobs.a".into();
    let refiltered = fx.streams.consume("JOBS", config).await;
    assert!(
        matches!(refiltered, Err(Error::Invalid { .. })),
        "{refiltered:?}"
    );
}

#[tokio::test]
async fn a_new_consumer_starts_where_it_is_told() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    fx.publish("jobs.a", "m-1").await;
    fx.publish("jobs.a", "m-2").await;
    tokio::time::sleep(Duration::from_millis(50)).await; // a time between messages 2 and 3
    let between = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    fx.publish("jobs.a", "m-3").await;

    let starts = [
        ("first", StartAt::First, 1),
        ("sequence", StartAt::Sequence(2), 2),
        ("time", StartAt::Time(between), 3),
    ];
    for (name, start, expected) in starts {
        let mut deliveries = fx.consume(consumer(name, "jobs.>", start)).await;
        let delivery = next(&mut deliveries, ARRIVES).await;
        assert_eq!(delivery.info.stream_sequence, expected, "{name}");
    }

    let mut new = fx.consume(consumer("new", "jobs.>", StartAt::New)).await;
    nothing_within(&mut new, Duration::from_millis(200)).await;
    fx.publish("jobs.a", "m-4").await;
    assert_eq!(next(&mut new, ARRIVES).await.info.stream_sequence, 4);
}

#[tokio::test]
async fn stop_hands_out_what_was_received_then_ends() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    for n in 0..5 {
        fx.publish("jobs.a", &format!("m-{n}")).await;
    }
    let mut config = consumer("c", "jobs.>", StartAt::First);
    config.ack_wait = Duration::from_secs(1);
    let mut deliveries = fx.consume(config.clone()).await;
    let first = next(&mut deliveries, ARRIVES).await;
    first.ack().await.expect("ack");
    deliveries.stop().await;
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(item) = deliveries.next().await {
            rest.push(item.expect("delivery").info.stream_sequence);
        }
    })
    .await;
    assert!(ended.is_ok(), "the binding ended after stop");
    assert!(rest.len() <= 4, "{rest:?}");
    drop(deliveries);

    // The unsettled ones are still there for the next binding.
    let mut deliveries = fx.consume(config).await;
    let mut sequences = Vec::new();
    while sequences.len() < 4 {
        let delivery = next(&mut deliveries, ARRIVES).await;
        delivery.ack().await.expect("ack");
        sequences.push(delivery.info.stream_sequence);
    }
    sequences.sort_unstable();
    assert_eq!(sequences, [2, 3, 4, 5]);
}

#[tokio::test]
async fn an_unacked_message_of_a_vanished_binding_goes_to_another_after_ack_wait() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    let mut config = consumer("c", "jobs.>", StartAt::First);
    config.ack_wait = Duration::from_secs(1);
    fx.publish("jobs.a", "m-1").await;

    // Another process: its own connection, which goes away with the message unsettled.
    let other = connect(&fx.server).await;
    let other_streams = NatsStreams::new(&other);
    let mut gone = other_streams
        .consume("JOBS", config.clone())
        .await
        .expect("binds");
    let taken = next(&mut gone, ARRIVES).await;
    let taken_at = Instant::now();
    assert_eq!(taken.info.delivered, 1);
    drop((taken, gone, other_streams));
    other.client().drain().await.expect("connection closed");
    drop(other);

    let mut deliveries = fx.consume(config).await;
    let again = next(&mut deliveries, ARRIVES).await;
    assert!(
        taken_at.elapsed() >= Duration::from_millis(900),
        "{:?}",
        taken_at.elapsed()
    );
    assert_eq!((again.info.stream_sequence, again.info.delivered), (1, 2));
    again.ack().await.expect("ack");
}

#[tokio::test]
async fn delete_consumer_removes_it_and_ignores_a_missing_one() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    fx.publish("jobs.a", "m-1").await;
    let mut deliveries = fx.consume(consumer("c", "jobs.>", StartAt::First)).await;
    next(&mut deliveries, ARRIVES)
        .await
        .ack()
        .await
        .expect("ack");
    drop(deliveries);
    fx.streams
        .delete_consumer("JOBS", "c")
        .await
        .expect("deleted");
    fx.streams
        .delete_consumer("JOBS", "c")
        .await
        .expect("already gone");
    fx.streams
        .delete_consumer("MISSING", "c")
        .await
        .expect("no stream, no consumer");
    // Created afresh: it starts from its start again.
    let mut deliveries = fx.consume(consumer("c", "jobs.>", StartAt::First)).await;
    assert_eq!(next(&mut deliveries, ARRIVES).await.info.delivered, 1);
}

#[tokio::test]
async fn invalid_names_and_headers_are_refused() {
    let fx = Fixture::with_stream(Retention::Limits).await;
    let mut bad = stream_config(Retention::Limits);
    bad.name = "A.B".into();
    assert!(matches!(
        fx.streams.ensure_stream(bad).await,
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        fx.streams
            .consume("JOBS", consumer("a b", "jobs.>", StartAt::New))
            .await,
        Err(Error::Invalid { .. })
    ));
    let mut message = message("jobs.a", "m-1");
    message.headers.insert("Bad: Name", "x");
    assert!(matches!(
        fx.streams.publish(message).await,
        Err(Error::Invalid { .. })
    ));
}

#[tokio::test]
async fn a_binding_recovers_after_a_server_restart() {
    binding_recovers_after_an_outage(Duration::ZERO).await;
}

/// Longer than two missed heartbeats: the binding gives up on its pull stream and binds again.
#[tokio::test]
async fn a_binding_recovers_after_a_long_outage() {
    binding_recovers_after_an_outage(Duration::from_secs(12)).await;
}

async fn binding_recovers_after_an_outage(outage: Duration) {
    let mut fx = Fixture::with_stream(Retention::Limits).await;
    let mut deliveries = fx.consume(consumer("c", "jobs.>", StartAt::New)).await;
    fx.publish("jobs.a", "m-1").await;
    next(&mut deliveries, ARRIVES)
        .await
        .ack()
        .await
        .expect("ack");

    let connects = fx.bus.stats().connects();
    fx.server.stop();
    let errors = tokio::time::timeout(outage, async {
        let mut errors = 0;
        while let Some(item) = deliveries.next().await {
            let error = item.expect_err("a delivery during the outage");
            eprintln!("during the outage: {error}");
            errors += 1;
        }
        panic!("the binding ended during the outage after {errors} errors");
    })
    .await;
    assert!(errors.is_err());
    fx.server.restart();
    let restarted = Instant::now();
    // A publish sent before the client noticed would only time out: wait for the reconnect.
    while fx.bus.stats().connects() == connects {
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "no reconnect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // polling the state
    }
    // Then publishes may still fail while JetStream starts: retry them within a deadline.
    loop {
        let sent = match fx.streams.publish(message("jobs.a", "m-2")).await {
            Ok(pending) => pending.await,
            Err(error) => Err(error),
        };
        match sent {
            Ok(ack) => {
                assert_eq!(ack.sequence, 2);
                eprintln!("published {:?} after the restart", restarted.elapsed());
                break;
            }
            Err(error) => assert!(
                restarted.elapsed() < Duration::from_secs(20),
                "no publish 20 s after restart: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await; // retry interval
    }
    // Transport errors may come first; the binding then delivers again. The server was
    // SIGKILLed: the consumer's record of the ack of m-1 may not have reached its disk, and
    // then m-1 comes once more (at least once), before m-2.
    let mut m1_again = 0;
    let delivery = loop {
        let item = tokio::time::timeout(Duration::from_secs(20), deliveries.next())
            .await
            .expect("a delivery within 20 s of the restart")
            .expect("the binding stays open");
        match item {
            Ok(delivery) if payload(&delivery) == "m-1" && m1_again == 0 => {
                eprintln!("m-1 again: its ack was lost with the killed server");
                m1_again += 1;
                delivery.ack().await.expect("ack");
            }
            Ok(delivery) => break delivery,
            Err(error) => eprintln!("while recovering: {error}"),
        }
    };
    eprintln!("delivered {:?} after the restart", restarted.elapsed());
    assert_eq!(payload(&delivery), "m-2");
    delivery.ack().await.expect("ack");
}
