//! Event scenarios, run on every backend (`tests/events_memory.rs`, `tests/events_nats.rs`).
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aegis::dead_letters::{DEAD_LETTER_STREAM, dead_letter_subject, headers};
use aegis::events::{EventConfig, EventPublisher, Topic};
use aegis::ports::{ConsumerConfig, Delivery, StartAt};
use aegis::{Backend, Event, RpcError, ServiceBuilder, ServiceConfig, ServiceHandle};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// How long a scenario waits for what must happen.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The payload of every test event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Which one.
    pub n: u64,
}

/// `(n, delivery count, when)` of every event one handler of one instance saw, in arrival
/// order.
type Seen = Vec<(u64, u64, std::time::Instant)>;

/// What handlers saw: per (instance, handler), the `n` of every event, in arrival order.
#[derive(Debug, Default)]
pub struct Tally {
    seen: Mutex<BTreeMap<(String, &'static str), Seen>>,
    changed: Notify,
}

impl Tally {
    fn record(&self, instance: &str, handler: &'static str, n: u64, delivered: u64) {
        self.seen
            .lock()
            .unwrap()
            .entry((instance.to_owned(), handler))
            .or_default()
            .push((n, delivered, std::time::Instant::now()));
        self.changed.notify_waiters();
    }

    /// Every `n` seen by `handler`, over all instances.
    pub fn all(&self, handler: &str) -> Vec<u64> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|((_, h), _)| *h == handler)
            .flat_map(|(_, v)| v.iter().map(|(n, _, _)| *n))
            .collect()
    }

    /// Every `n` seen by `handler` in `instance`.
    pub fn of(&self, instance: &str, handler: &str) -> Vec<u64> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|((i, h), _)| i == instance && *h == handler)
            .flat_map(|(_, v)| v.iter().map(|(n, _, _)| *n))
            .collect()
    }

    /// The delivery counts `handler` saw for event `n`.
    pub fn deliveries_of(&self, handler: &str, n: u64) -> Vec<u64> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|((_, h), _)| *h == handler)
            .flat_map(|(_, v)| v.iter().filter(|(m, _, _)| *m == n).map(|(_, d, _)| *d))
            .collect()
    }

    /// When `handler` saw event `n`, each time, in order.
    pub fn times_of(&self, handler: &str, n: u64) -> Vec<std::time::Instant> {
        let seen = self.seen.lock().unwrap();
        let mut times: Vec<_> = seen
            .iter()
            .filter(|((_, h), _)| *h == handler)
            .flat_map(|(_, v)| v.iter().filter(|(m, _, _)| *m == n).map(|(_, _, t)| *t))
            .collect();
        times.sort_unstable();
        times
    }

    /// Waits until `done` holds, or panics after [`DEADLINE`] saying `what`.
    pub async fn wait(&self, what: &str, done: impl Fn(&Tally) -> bool) {
        crate::wait_until(&self.changed, DEADLINE, what, || done(self)).await;
    }
}

/// One subscription per mode, and a poison rule: events whose `n` is in `poison` fail with a
/// 500 every time, those in `bad` with a 400.
#[derive(Debug)]
pub struct Ledger {
    /// This instance's label in the tally.
    pub label: String,
    /// Where handlers record.
    pub tally: Arc<Tally>,
    /// Events that always fail with 500.
    pub poison: Vec<u64>,
    /// Events that fail with 400.
    pub bad: Vec<u64>,
}

impl Ledger {
    fn handle(&self, handler: &'static str, event: &Event<Entry>) -> Result<(), RpcError> {
        let n = event.payload().n;
        self.tally
            .record(&self.label, handler, n, event.delivery_count());
        if self.poison.contains(&n) {
            // Two lines: the dead letter's reason header must still be valid.
            return Err(RpcError::internal(format!("poison {n}\ntwice")));
        }
        if self.bad.contains(&n) {
            return Err(RpcError::bad_request(format!("bad {n}")));
        }
        Ok(())
    }
}

#[aegis::service(name = "ledger", version = "1.0.0")]
impl Ledger {
    /// One instance per event.
    #[subscribe("ledger.created")]
    async fn created(&self, event: Event<Entry>) -> Result<(), RpcError> {
        self.handle("created", &event)
    }

    /// Another compete subscription of the same service, on another subject.
    #[subscribe("ledger.deleted")]
    async fn deleted(&self, event: Event<Entry>) -> Result<(), RpcError> {
        self.handle("deleted", &event)
    }
}

/// Every instance gets every `audit.*` event.
#[derive(Debug)]
pub struct Auditor {
    /// This instance's label in the tally.
    pub label: String,
    /// Where the handler records.
    pub tally: Arc<Tally>,
}

#[aegis::service(name = "auditor", version = "1.0.0")]
impl Auditor {
    /// Every event, in every instance.
    #[subscribe("audit.*", mode = "broadcast")]
    async fn everything(&self, event: Event<Entry>) -> Result<(), RpcError> {
        self.tally.record(
            &self.label,
            "everything",
            event.payload().n,
            event.delivery_count(),
        );
        Ok(())
    }
}

/// Fast retries for tests: 4 deliveries at most, 50, 100, then 200 ms apart.
pub fn quick_events() -> EventConfig {
    EventConfig::new()
        .max_deliveries(4)
        .backoff(BACKOFF)
        .ack_wait(Duration::from_secs(5))
}

/// The redelivery delays of [`quick_events`].
pub const BACKOFF: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
];

fn config(label: &str) -> ServiceConfig {
    ServiceConfig::new()
        .instance_id(aegis::InstanceId::new(label).unwrap())
        .events(quick_events())
        .drain_timeout(Duration::from_secs(5))
}

/// Starts `ledger` instance `label`.
pub async fn start_ledger(
    backend: &Backend,
    label: &str,
    tally: &Arc<Tally>,
    (poison, bad): (Vec<u64>, Vec<u64>),
) -> ServiceHandle {
    ServiceBuilder::new(Ledger {
        label: label.to_owned(),
        tally: Arc::clone(tally),
        poison,
        bad,
    })
    .config(config(label))
    .start(backend)
    .await
    .expect("ledger starts")
}

/// Publishes `events` payloads `0..count` to `topic`, 500 in flight at a time.
pub async fn publish_range(backend: &Backend, topic: &Topic<Entry>, range: std::ops::Range<u64>) {
    let publisher = EventPublisher::new(backend)
        .unwrap()
        .with_source("scenario");
    let entries: Vec<Entry> = range.map(|n| Entry { n }).collect();
    for chunk in entries.chunks(500) {
        publisher
            .publish_all(topic, chunk)
            .await
            .expect("published");
    }
}

fn assert_once(seen: &[u64], count: u64, what: &str) {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for n in seen {
        *counts.entry(*n).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(
        twice.is_empty(),
        "{what}: handled more than once: {twice:?}"
    );
    let missing: Vec<_> = (0..count)
        .filter(|n| !counts.contains_key(n))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "{what}: never handled: {missing:?}");
    assert_eq!(seen.len() as u64, count, "{what}: handled count");
}

/// Compete: `instances` instances, `count` events: each handled exactly once across them,
/// and more than one instance did some of the work.
pub async fn compete_handles_each_event_once(backend: &Backend, instances: usize, count: u64) {
    let tally = Arc::new(Tally::default());
    let mut handles = Vec::new();
    for i in 0..instances {
        handles.push(start_ledger(backend, &format!("ledger-{i}"), &tally, (vec![], vec![])).await);
    }
    let topic = Topic::new("ledger", "created").unwrap();
    publish_range(backend, &topic, 0..count).await;
    tally
        .wait("every event handled", |t| {
            t.all("created").len() as u64 >= count
        })
        .await;
    for handle in &handles {
        handle.stop().await.unwrap();
    }
    assert_once(&tally.all("created"), count, "compete");
    assert!(
        tally.all("deleted").is_empty(),
        "`deleted` got `created` events"
    );
    let busy = (0..instances)
        .filter(|i| !tally.of(&format!("ledger-{i}"), "created").is_empty())
        .count();
    assert!(
        busy > 1,
        "only {busy} of {instances} instances handled events"
    );
}

/// Broadcast: every one of `instances` instances handles every one of `count` events once.
pub async fn broadcast_reaches_every_instance(backend: &Backend, instances: usize, count: u64) {
    let tally = Arc::new(Tally::default());
    let mut handles = Vec::new();
    for i in 0..instances {
        let label = format!("auditor-{i}");
        let handle = ServiceBuilder::new(Auditor {
            label: label.clone(),
            tally: Arc::clone(&tally),
        })
        .config(config(&label))
        .start(backend)
        .await
        .expect("auditor starts");
        handles.push(handle);
    }
    let topic = Topic::new("audit", "entry").unwrap();
    publish_range(backend, &topic, 0..count).await;
    tally
        .wait("every instance handled every event", |t| {
            t.all("everything").len() as u64 >= count * instances as u64
        })
        .await;
    for handle in &handles {
        handle.stop().await.unwrap();
    }
    for i in 0..instances {
        let label = format!("auditor-{i}");
        assert_once(&tally.of(&label, "everything"), count, &label);
    }
}

/// Two subscriptions of one service never receive each other's events.
pub async fn subscriptions_of_one_service_stay_apart(backend: &Backend) {
    let tally = Arc::new(Tally::default());
    let handle = start_ledger(backend, "ledger-a", &tally, (vec![], vec![])).await;
    publish_range(backend, &Topic::new("ledger", "created").unwrap(), 0..20).await;
    publish_range(backend, &Topic::new("ledger", "deleted").unwrap(), 100..110).await;
    tally
        .wait("both subscriptions", |t| {
            t.all("created").len() >= 20 && t.all("deleted").len() >= 10
        })
        .await;
    handle.stop().await.unwrap();
    assert_once(&tally.all("created"), 20, "created");
    let mut deleted = tally.all("deleted");
    deleted.sort_unstable();
    assert_eq!(deleted, (100..110).collect::<Vec<_>>());
}

/// Reads the dead letters of `service` for `subject` (a fresh consumer from the start).
pub async fn dead_letters(
    backend: &Backend,
    service: &str,
    subject: &str,
    expected: usize,
) -> Vec<Delivery> {
    let streams = backend.streams().unwrap();
    let name = aegis::testing::unique("dl-reader-");
    let mut deliveries = streams
        .consume(
            DEAD_LETTER_STREAM,
            ConsumerConfig {
                fetch_ahead: 100,
                name: name.clone(),
                filter_subject: dead_letter_subject(service, subject),
                start: StartAt::First,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: 1000,
                inactive_threshold: Some(Duration::from_secs(60)),
            },
        )
        .await
        .expect("dead-letter consumer");
    let mut found = Vec::new();
    while found.len() < expected {
        match tokio::time::timeout(DEADLINE, deliveries.next()).await {
            Ok(Some(Ok(delivery))) => {
                delivery.ack().await.unwrap();
                found.push(delivery);
            }
            Ok(Some(Err(error))) => panic!("dead-letter consumer failed: {error}"),
            Ok(None) | Err(_) => panic!("expected {expected} dead letters, found {}", found.len()),
        }
    }
    found
}

/// A poison event (always 500) is delivered exactly `max_deliveries` times, then lands in
/// the dead letters with its error; a bad one (400) goes there after one delivery; the
/// other events flow meanwhile.
pub async fn poison_events_end_in_dead_letters(backend: &Backend) {
    let tally = Arc::new(Tally::default());
    let handle = start_ledger(backend, "ledger-p", &tally, (vec![7], vec![13])).await;
    publish_range(backend, &Topic::new("ledger", "created").unwrap(), 0..50).await;
    let letters = dead_letters(backend, "ledger", "events.ledger.created", 2).await;
    tally
        .wait("the healthy events", |t| t.all("created").len() >= 50 + 3)
        .await;
    handle.stop().await.unwrap();
    let mut poison = tally.deliveries_of("created", 7);
    poison.sort_unstable();
    assert_eq!(poison, vec![1, 2, 3, 4], "poison deliveries");
    // Each redelivery waited its backoff (no sooner; later is up to the machine).
    let times = tally.times_of("created", 7);
    for (gap, delay) in times.windows(2).map(|w| w[1] - w[0]).zip(BACKOFF) {
        assert!(
            gap >= delay,
            "redelivered after {gap:?}, before its backoff {delay:?}"
        );
    }
    assert_eq!(
        tally.deliveries_of("created", 13),
        vec![1],
        "a 400 is not retried"
    );
    for n in (0..50).filter(|n| ![7, 13].contains(n)) {
        assert_eq!(tally.deliveries_of("created", n), vec![1], "event {n}");
    }
    let mut by_code: BTreeMap<String, &Delivery> = BTreeMap::new();
    for letter in &letters {
        let h = &letter.message.headers;
        assert_eq!(h.get(headers::SUBJECT), Some("events.ledger.created"));
        assert_eq!(h.get(headers::STREAM), Some("EVENTS"));
        assert_eq!(h.get(headers::CONSUMER), Some("ledger-created"));
        by_code.insert(h.get(headers::CODE).unwrap().to_owned(), letter);
    }
    let poison = by_code.get("500").expect("the poison event's dead letter");
    assert_eq!(poison.message.headers.get(headers::DELIVERIES), Some("4"));
    assert_eq!(
        poison.message.headers.get(headers::REASON),
        Some("INTERNAL: poison 7 twice"),
        "the reason, on one line"
    );
    let event: aegis::domain::envelope::EventEnvelope<Entry> =
        aegis::Codec::detect(&poison.message.payload)
            .decode(&poison.message.payload)
            .unwrap();
    assert_eq!(event.payload, Some(Entry { n: 7 }), "the original payload");
    let bad = by_code.get("400").expect("the bad event's dead letter");
    assert_eq!(bad.message.headers.get(headers::DELIVERIES), Some("1"));
}

/// A new subscription starts with new events; `start_at(First)` replays the stream.
pub async fn new_subscriptions_start_with_new_events(backend: &Backend) {
    publish_range(backend, &Topic::new("ledger", "created").unwrap(), 0..5).await;
    let tally = Arc::new(Tally::default());
    let handle = start_ledger(backend, "ledger-n", &tally, (vec![], vec![])).await;
    publish_range(backend, &Topic::new("ledger", "created").unwrap(), 5..8).await;
    tally
        .wait("the new events", |t| t.all("created").len() >= 3)
        .await;
    handle.stop().await.unwrap();
    let mut seen = tally.all("created");
    seen.sort_unstable();
    assert_eq!(seen, vec![5, 6, 7], "old events were replayed");

    // Events published before the subscription existed, replayed from the first.
    publish_range(backend, &Topic::new("audit", "old").unwrap(), 0..4).await;
    let replay = Arc::new(Tally::default());
    let handle = ServiceBuilder::new(Auditor {
        label: String::from("auditor-r"),
        tally: Arc::clone(&replay),
    })
    .config(config("auditor-r").events(quick_events().start_at("everything", StartAt::First)))
    .start(backend)
    .await
    .unwrap();
    replay
        .wait("the replayed events", |t| t.all("everything").len() >= 4)
        .await;
    handle.stop().await.unwrap();
    let mut seen = replay.all("everything");
    seen.sort_unstable();
    assert_eq!(seen, vec![0, 1, 2, 3]);
}

/// `events.bench.demo` as the Python SDK published it (captured), moved to
/// `events.orders.created`.
pub const PY_ORDER_CREATED: &str = r#"{"message_id": "70e05212-4ba2-45d5-acc8-0b7d086702d0", "trace_id": "2889fcc3-d1d9-42f9-822f-4fd641a2d156", "correlation_id": null, "timestamp": "2026-11-26T23:47:14.462579+00:00", "source": "evpub-demo-d3fbcfaf", "target": null, "domain": "orders", "event_type": "created", "payload": {"phase": "seq", "i": 0, "ts": 1795736834.4625545}, "version": "1.0"}"#;

/// The payload of the captured event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demo {
    /// A label.
    pub phase: String,
    /// A counter.
    pub i: u64,
    /// A unix time.
    pub ts: f64,
}

/// Keeps the `orders.created` events it receives.
#[derive(Debug, Default)]
pub struct OrdersWatch {
    /// What arrived.
    pub events: Mutex<Vec<Event<Demo>>>,
    /// Signalled on each.
    pub arrived: Notify,
}

#[aegis::service(name = "orders-watch", version = "1.0.0")]
impl OrdersWatch {
    /// Keeps it.
    #[subscribe("orders.created")]
    async fn created(&self, event: Event<Demo>) -> Result<(), RpcError> {
        self.events.lock().unwrap().push(event);
        self.arrived.notify_waiters();
        Ok(())
    }
}

/// A Python-shaped event (msgpack, then JSON) published raw on `events.orders.created`
/// reaches a Rust handler with every envelope field; an event published by aegis has
/// exactly the reference's keys, in both codecs.
pub async fn python_shaped_events_interoperate(backend: &Backend) {
    let watch = Arc::new(OrdersWatch::default());
    let handle = ServiceBuilder::from_arc(Arc::clone(&watch))
        .config(ServiceConfig::new().events(quick_events()))
        .start(backend)
        .await
        .unwrap();
    let streams = backend.streams().unwrap();
    let value: serde_json::Value = serde_json::from_str(PY_ORDER_CREATED).unwrap();
    // A reader of everything on the subject, to see what aegis publishes.
    let mut raw = streams
        .consume(
            "EVENTS",
            ConsumerConfig {
                fetch_ahead: 100,
                name: aegis::testing::unique("raw-"),
                filter_subject: String::from("events.orders.created"),
                start: StartAt::New,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: 100,
                inactive_threshold: Some(Duration::from_secs(60)),
            },
        )
        .await
        .unwrap();
    for (i, body) in [
        rmp_serde::to_vec(&value).unwrap(),
        serde_json::to_vec(&value).unwrap(),
    ]
    .into_iter()
    .enumerate()
    {
        // No Nats-Msg-Id: Python sets none.
        let message = aegis::ports::Message::new("events.orders.created", body);
        streams.publish(message).await.unwrap().await.unwrap();
        crate::wait_until(&watch.arrived, DEADLINE, "the Python-shaped event", || {
            watch.events.lock().unwrap().len() > i
        })
        .await;
        let raw_delivery = tokio::time::timeout(DEADLINE, raw.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        raw_delivery.ack().await.unwrap();
    }
    {
        let events = watch.events.lock().unwrap();
        for event in events.iter() {
            assert_eq!(event.id(), "70e05212-4ba2-45d5-acc8-0b7d086702d0");
            assert_eq!(event.trace_id(), "2889fcc3-d1d9-42f9-822f-4fd641a2d156");
            assert_eq!(event.timestamp(), "2026-11-26T23:47:14.462579+00:00");
            assert_eq!(event.source(), Some("evpub-demo-d3fbcfaf"));
            assert_eq!(event.domain(), "orders");
            assert_eq!(event.event_type(), "created");
            assert_eq!(event.version(), "1.0");
            assert_eq!(event.subject(), "events.orders.created");
            assert_eq!(event.delivery_count(), 1);
            assert_eq!(
                event.payload(),
                &Demo {
                    phase: String::from("seq"),
                    i: 0,
                    ts: 1795736834.4625545
                }
            );
        }
    }
    // The other way: what aegis publishes, read raw.
    let topic = Topic::<Demo>::new("orders", "created").unwrap();
    let demo = Demo {
        phase: String::from("rust"),
        i: 1,
        ts: 1.5,
    };
    for codec in [aegis::Codec::MsgPack, aegis::Codec::Json] {
        let publisher = EventPublisher::new(backend)
            .unwrap()
            .with_source("orders-desk-1")
            .with_traceparent(TRACEPARENT)
            .with_codec(codec);
        publisher.publish(&topic, &demo).await.unwrap();
        let delivery = tokio::time::timeout(DEADLINE, raw.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        delivery.ack().await.unwrap();
        let body = &delivery.message.payload;
        assert_eq!(aegis::Codec::detect(body), codec);
        let value: serde_json::Value = codec.decode(body).unwrap();
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "correlation_id",
                "domain",
                "event_type",
                "message_id",
                "payload",
                "source",
                "target",
                "timestamp",
                "trace_id",
                "version"
            ]
        );
        assert_eq!(value["domain"], "orders");
        assert_eq!(value["event_type"], "created");
        assert_eq!(value["source"], "orders-desk-1");
        assert_eq!(value["version"], "1.0");
        assert_eq!(value["payload"]["phase"], "rust");
        assert_eq!(
            delivery.message.headers.get(aegis::ports::MSG_ID_HEADER),
            value["message_id"].as_str(),
            "Nats-Msg-Id is the message id"
        );
        assert_eq!(
            delivery.message.headers.get("traceparent"),
            Some(TRACEPARENT)
        );
        // The typed envelope of the reference decodes it strictly.
        let envelope: aegis::domain::envelope::EventEnvelope<Demo> = codec.decode(body).unwrap();
        assert_eq!(envelope.payload, Some(demo.clone()));
    }
    // The handler saw the trace context too.
    crate::wait_until(&watch.arrived, DEADLINE, "the aegis events", || {
        watch.events.lock().unwrap().len() >= 4
    })
    .await;
    let last = watch.events.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.traceparent(), Some(TRACEPARENT));
    assert_eq!(last.source(), Some("orders-desk-1"));
    handle.stop().await.unwrap();
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
