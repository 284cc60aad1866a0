//! Dead-letter redrive scenarios, run on every backend (`tests/dead_letters_memory.rs`,
//! `tests/dead_letters_nats.rs`).
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aegis::dead_letters::{DEAD_LETTER_STREAM, DeadLetter, DeadLetters, Filter, headers};
use aegis::events::{EventPublisher, Topic};
use aegis::ports::{Headers, MSG_ID_HEADER, Message, Retention, StreamConfig};
use aegis::{Backend, Error, Event, RpcError, ServiceBuilder, ServiceConfig};
use tokio::sync::Notify;

use crate::events::{DEADLINE, Entry, quick_events};

/// The subject `Fragile` subscribes to.
const SUBJECT: &str = "events.fragile.happened";

/// Refuses every event (400: dead-lettered at once) while `broken`.
#[derive(Debug, Default)]
pub struct Fragile {
    /// Set: the handler fails.
    pub broken: AtomicBool,
    /// `(n, delivery count, event id, handled)` of every delivery, in order.
    pub seen: Mutex<Vec<(u64, u64, String, bool)>>,
    /// Signalled on each delivery.
    pub changed: Notify,
}

#[aegis::service(name = "fragile", version = "1.0.0")]
impl Fragile {
    /// Fails while broken.
    #[subscribe("fragile.happened")]
    async fn happened(&self, event: Event<Entry>) -> Result<(), RpcError> {
        let handled = !self.broken.load(Ordering::SeqCst);
        let seen = (
            event.payload().n,
            event.delivery_count(),
            event.id().to_owned(),
            handled,
        );
        self.seen.lock().unwrap().push(seen);
        self.changed.notify_waiters();
        if handled {
            Ok(())
        } else {
            Err(RpcError::bad_request("broken"))
        }
    }
}

impl Fragile {
    fn seen(&self) -> Vec<(u64, u64, String, bool)> {
        self.seen.lock().unwrap().clone()
    }
}

/// Lists with `filter` until `expected` dead letters are there (they are written after the
/// handler returns), or panics after [`DEADLINE`].
pub async fn wait_for_letters(
    dead_letters: &DeadLetters,
    filter: &Filter,
    expected: usize,
) -> Vec<DeadLetter> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let letters = dead_letters.list(filter).await.unwrap();
        if letters.len() >= expected {
            return letters;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} dead letters of {expected} after {DEADLINE:?}",
            letters.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // polling interval, not a wait for an outcome
    }
}

/// A poison event is dead-lettered by a real subscriber; once the handler is fixed,
/// `replay` delivers it again (the same event, a new message id), it is handled, and the
/// dead letter is gone. A retried replay is stored once; a missing one is `NotFound`.
pub async fn replay_after_a_fix_delivers_once_more(backend: &Backend) {
    let fragile = Arc::new(Fragile::default());
    fragile.broken.store(true, Ordering::SeqCst);
    let handle = ServiceBuilder::from_arc(Arc::clone(&fragile))
        .config(ServiceConfig::new().events(quick_events()))
        .start(backend)
        .await
        .unwrap();
    let topic = Topic::<Entry>::new("fragile", "happened").unwrap();
    let publisher = EventPublisher::new(backend).unwrap();
    publisher.publish(&topic, &Entry { n: 1 }).await.unwrap();
    publisher.publish(&topic, &Entry { n: 2 }).await.unwrap();
    let dead_letters = DeadLetters::new(backend).unwrap();
    let only_fragile = Filter::new().service("fragile");
    let letters = wait_for_letters(&dead_letters, &only_fragile, 2).await;
    let seen = fragile.seen();
    assert_eq!(seen.len(), 2, "each refused once: {seen:?}");
    // The two may have been handled concurrently: matched by their event ids.
    let id_of = |n: u64| seen.iter().find(|s| s.0 == n).unwrap().2.clone();
    let letter_of = |n: u64| {
        let id = id_of(n);
        letters
            .iter()
            .find(|l| l.message_id() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("no dead letter of event {n}: {letters:?}"))
    };
    let (first, second) = (letter_of(1), letter_of(2));
    assert_eq!(first.service(), "fragile");
    assert_eq!(first.subject(), SUBJECT);
    assert_eq!(first.code(), Some(400));
    assert_eq!(first.reason(), Some("BAD_REQUEST: broken"));
    assert_eq!(first.stream(), Some("EVENTS"));
    assert_eq!(first.consumer(), Some("fragile-happened"));
    assert_eq!(first.deliveries(), Some(1));
    assert!(first.stream_sequence().is_some());
    let original = read_event(backend, first.stream_sequence().unwrap()).await;

    fragile.broken.store(false, Ordering::SeqCst);
    let replayed = dead_letters.replay(first.sequence()).await.unwrap();
    assert_eq!(
        (replayed.subject.as_str(), replayed.stream.as_str()),
        (SUBJECT, "EVENTS")
    );
    assert!(!replayed.duplicate);
    crate::wait_until(&fragile.changed, DEADLINE, "the replayed event", || {
        fragile.seen().len() >= 3
    })
    .await;
    let again = &fragile.seen()[2];
    assert_eq!(again, &(1, 1, id_of(1), true), "handled, as new");
    assert_eq!(dead_letters.get(first.sequence()).await.unwrap(), None);
    let stored = read_event(backend, replayed.sequence).await;
    let expected_id = format!("aegis-replay-{}", first.sequence());
    assert_eq!(
        stored.headers.get(MSG_ID_HEADER),
        Some(expected_id.as_str())
    );
    assert_eq!(stored.payload, original.payload);
    assert!(
        stored
            .headers
            .iter()
            .all(|(name, _)| !name.starts_with("Aegis-Dead-Letter-")),
        "{:?}",
        stored.headers
    );
    assert_eq!(
        stored.headers.get("traceparent"),
        original.headers.get("traceparent"),
        "the original headers"
    );
    assert!(matches!(
        dead_letters.replay(first.sequence()).await,
        Err(Error::NotFound { .. })
    ));

    // A replay that was stored before a crash, before the dead letter was removed: retried,
    // it is not stored twice (and not handled twice).
    let mut headers = Headers::new();
    headers.insert(MSG_ID_HEADER, format!("aegis-replay-{}", second.sequence()));
    let earlier = Message {
        headers,
        ..Message::new(SUBJECT, second.payload().clone())
    };
    let streams = backend.streams().unwrap();
    let earlier = streams.publish(earlier).await.unwrap().await.unwrap();
    crate::wait_until(&fragile.changed, DEADLINE, "the earlier replay", || {
        fragile.seen().len() >= 4
    })
    .await;
    let retried = dead_letters.replay(second.sequence()).await.unwrap();
    assert!(retried.duplicate, "{retried:?}");
    assert_eq!(retried.sequence, earlier.sequence);
    assert!(dead_letters.list(&only_fragile).await.unwrap().is_empty());
    handle.stop().await.unwrap();
    let mut handled: Vec<(u64, bool)> = fragile.seen().iter().map(|s| (s.0, s.3)).collect();
    handled.sort_unstable();
    assert_eq!(
        handled,
        [(1, false), (1, true), (2, false), (2, true)],
        "each refused once, then handled once"
    );
}

/// The message at `sequence` of `EVENTS` (on [`SUBJECT`]).
async fn read_event(backend: &Backend, sequence: u64) -> Message {
    let stored = backend
        .streams()
        .unwrap()
        .next_message("EVENTS", sequence, SUBJECT)
        .await
        .unwrap()
        .expect("the event is stored");
    assert_eq!(stored.sequence, sequence);
    stored.message
}

/// Stores a dead letter by hand: `service`'s, of `subject`, with a code and a reason (when
/// `code` is given) and no other header.
async fn store_by_hand(backend: &Backend, service: &str, subject: &str, code: Option<&str>) -> u64 {
    let mut message = Message::new(
        aegis::dead_letters::dead_letter_subject(service, subject),
        b"{\"n\":0}".to_vec(),
    );
    if let Some(code) = code {
        message.headers.insert(headers::CODE, code);
        message.headers.insert(headers::REASON, "by hand");
    }
    let streams = backend.streams().unwrap();
    streams
        .publish(message)
        .await
        .unwrap()
        .await
        .unwrap()
        .sequence
}

/// Listing by service, from a sequence, up to a limit, of dead letters with and without
/// headers; `get` of a missing sequence; `purge` of one and `purge_all` of many.
pub async fn list_filters_and_purges(backend: &Backend) {
    let dead_letters = DeadLetters::new(backend).unwrap();
    // No dead letter yet, not even the stream.
    assert!(dead_letters.list(&Filter::new()).await.unwrap().is_empty());
    assert_eq!(dead_letters.purge_all(None).await.unwrap(), 0);
    backend
        .streams()
        .unwrap()
        .ensure_stream(StreamConfig {
            name: DEAD_LETTER_STREAM.to_owned(),
            subjects: vec!["deadletter.>".to_owned()],
            retention: Retention::Limits,
            max_msgs: 100_000,
            duplicate_window: Duration::from_secs(120),
        })
        .await
        .unwrap();
    let mut alpha = Vec::new();
    let mut beta = Vec::new();
    for i in 0..3 {
        alpha.push(store_by_hand(backend, "alpha", "events.alpha.x", Some("500")).await);
        if i < 2 {
            beta.push(store_by_hand(backend, "beta", "commands.beta.run", None).await);
        }
    }
    let sequences = |letters: Vec<DeadLetter>| -> Vec<u64> {
        letters.iter().map(DeadLetter::sequence).collect()
    };
    let all = dead_letters.list(&Filter::new()).await.unwrap();
    let mut expected: Vec<u64> = alpha.iter().chain(&beta).copied().collect();
    expected.sort_unstable();
    assert_eq!(sequences(all), expected, "oldest first");
    let of_alpha = Filter::new().service("alpha");
    assert_eq!(
        sequences(dead_letters.list(&of_alpha).await.unwrap()),
        alpha
    );
    assert_eq!(
        sequences(dead_letters.list(&of_alpha.clone().limit(2)).await.unwrap()),
        alpha[..2]
    );
    let from_second = of_alpha.clone().from_sequence(alpha[1]);
    assert_eq!(
        sequences(dead_letters.list(&from_second).await.unwrap()),
        alpha[1..]
    );
    let bare = dead_letters.get(beta[0]).await.unwrap().expect("by hand");
    assert_eq!(
        (bare.service(), bare.subject(), bare.code(), bare.reason()),
        ("beta", "commands.beta.run", None, None),
        "read from the subject alone"
    );
    let coded = dead_letters.get(alpha[0]).await.unwrap().expect("by hand");
    assert_eq!((coded.code(), coded.reason()), (Some(500), Some("by hand")));
    let missing = expected.last().unwrap() + 100;
    assert_eq!(dead_letters.get(missing).await.unwrap(), None);
    assert!(matches!(
        dead_letters.replay(missing).await,
        Err(Error::NotFound {
            what: "dead letter",
            ..
        })
    ));
    assert!(matches!(
        dead_letters.list(&Filter::new().service("a.*")).await,
        Err(Error::Invalid { .. })
    ));

    assert!(dead_letters.purge(alpha[1]).await.unwrap());
    assert!(!dead_letters.purge(alpha[1]).await.unwrap(), "purged twice");
    assert!(!dead_letters.purge(missing).await.unwrap());
    assert_eq!(
        sequences(dead_letters.list(&of_alpha).await.unwrap()),
        [alpha[0], alpha[2]]
    );
    assert_eq!(dead_letters.purge_all(Some("beta")).await.unwrap(), 2);
    assert_eq!(
        sequences(dead_letters.list(&Filter::new()).await.unwrap()),
        [alpha[0], alpha[2]]
    );
    assert_eq!(dead_letters.purge_all(None).await.unwrap(), 2);
    assert!(dead_letters.list(&Filter::new()).await.unwrap().is_empty());
}
