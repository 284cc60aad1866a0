//! Conformance of [`MessageBus`] adapters.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::{DEADLINE, unique};
use crate::Error;
use crate::ports::{Headers, Message, MessageBus, Subscription};

async fn next(sub: &mut Subscription, what: &str) -> Message {
    tokio::time::timeout(DEADLINE, sub.next())
        .await
        .unwrap_or_else(|_| panic!("{what}: no message within {DEADLINE:?}"))
        .unwrap_or_else(|| panic!("{what}: subscription ended"))
}

/// Publishes a marker on `subject` and waits until `sub` sees it, so that everything published
/// before the marker has been delivered (per-subscriber order is publish order). Lets a test
/// assert that something did *not* arrive without sleeping.
async fn flush(bus: &dyn MessageBus, sub: &mut Subscription, subject: &str) -> Vec<Message> {
    let marker = unique("marker-");
    publish(bus, subject, marker.as_bytes()).await;
    let mut before = Vec::new();
    loop {
        let message = next(sub, "flush marker").await;
        if message.payload == marker.as_bytes() {
            return before;
        }
        before.push(message);
    }
}

async fn publish(bus: &dyn MessageBus, subject: &str, payload: &[u8]) {
    bus.publish(Message::new(subject, payload.to_vec()))
        .await
        .unwrap_or_else(|e| panic!("publish to {subject}: {e}"));
}

async fn subscribe(bus: &dyn MessageBus, subject: &str, group: Option<&str>) -> Subscription {
    bus.subscribe(subject, group)
        .await
        .unwrap_or_else(|e| panic!("subscribe to {subject}: {e}"))
}

/// Every plain subscriber gets every message, in publish order.
pub async fn plain_subscribers_each_get_every_message(bus: &dyn MessageBus) {
    let subject = unique("conf.plain.");
    let mut a = subscribe(bus, &subject, None).await;
    let mut b = subscribe(bus, &subject, None).await;
    for i in 0..20u8 {
        publish(bus, &subject, &[i]).await;
    }
    for sub in [&mut a, &mut b] {
        for i in 0..20u8 {
            assert_eq!(
                next(sub, "plain").await.payload.as_ref(),
                &[i],
                "publish order"
            );
        }
    }
}

/// A queue group delivers each message to exactly one member; a plain subscriber on the
/// same subject still gets all of them.
pub async fn queue_group_delivers_each_message_to_one_member(bus: &dyn MessageBus) {
    let subject = unique("conf.queue.");
    let group = unique("workers-");
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(subscribe(bus, &subject, Some(&group)).await);
    }
    let mut observer = subscribe(bus, &subject, None).await;
    let total = 300u16;
    for i in 0..total {
        publish(bus, &subject, &i.to_be_bytes()).await;
    }
    let seen_by_observer: Vec<Message> = {
        let mut all = Vec::new();
        for _ in 0..total {
            all.push(next(&mut observer, "observer").await);
        }
        all
    };
    assert_eq!(seen_by_observer.len(), usize::from(total));
    // Collect until every message is accounted for; then no member may get any more.
    let mut seen = HashSet::new();
    let mut counts = [0usize; 3];
    let deadline = Instant::now() + DEADLINE;
    while seen.len() < usize::from(total) {
        assert!(
            Instant::now() < deadline,
            "queue group lost messages: {} of {total}",
            seen.len()
        );
        for (index, member) in members.iter_mut().enumerate() {
            while let Ok(Some(message)) =
                tokio::time::timeout(Duration::from_millis(20), member.next()).await
            {
                assert!(
                    seen.insert(message.payload.clone()),
                    "a message reached two members"
                );
                counts[index] += 1;
            }
        }
    }
    assert!(
        counts.iter().all(|&c| c > 0),
        "every member got a share: {counts:?}"
    );
}

/// Two queue groups on one subject each get every message once.
pub async fn distinct_queue_groups_each_get_every_message(bus: &dyn MessageBus) {
    let subject = unique("conf.groups.");
    let mut first = subscribe(bus, &subject, Some("group-a")).await;
    let mut second = subscribe(bus, &subject, Some("group-b")).await;
    for i in 0..10u8 {
        publish(bus, &subject, &[i]).await;
    }
    for sub in [&mut first, &mut second] {
        for i in 0..10u8 {
            assert_eq!(next(sub, "group").await.payload.as_ref(), &[i]);
        }
    }
}

/// `*` matches exactly one token.
pub async fn single_token_wildcard(bus: &dyn MessageBus) {
    let root = unique("conf");
    let mut star = subscribe(bus, &format!("{root}.*"), None).await;
    let mut middle = subscribe(bus, &format!("{root}.*.end"), None).await;
    publish(bus, &format!("{root}.a.b"), b"too deep").await;
    publish(bus, &format!("{root}.a"), b"one").await;
    publish(bus, &format!("{root}.x.end"), b"middle").await;
    publish(bus, &format!("{root}.x.other"), b"no").await;
    let got = next(&mut star, "star").await;
    assert_eq!(got.payload.as_ref(), b"one");
    assert_eq!(got.subject, format!("{root}.a"));
    assert_eq!(
        next(&mut middle, "middle").await.payload.as_ref(),
        b"middle"
    );
    let stray = flush(bus, &mut star, &format!("{root}.flush")).await;
    assert!(
        stray.is_empty(),
        "`*` matched more than one token: {stray:?}"
    );
    let stray = flush(bus, &mut middle, &format!("{root}.flush.end")).await;
    assert!(
        stray.is_empty(),
        "`*.end` matched a non-matching subject: {stray:?}"
    );
}

/// `>` matches one or more trailing tokens, never zero.
pub async fn multi_token_wildcard(bus: &dyn MessageBus) {
    let root = unique("conf");
    let mut tail = subscribe(bus, &format!("{root}.>"), None).await;
    publish(bus, &root, b"zero tokens").await;
    publish(bus, &format!("{root}.a"), b"one").await;
    publish(bus, &format!("{root}.a.b.c"), b"three").await;
    assert_eq!(next(&mut tail, "one").await.payload.as_ref(), b"one");
    assert_eq!(next(&mut tail, "three").await.payload.as_ref(), b"three");
    let stray = flush(bus, &mut tail, &format!("{root}.flush")).await;
    assert!(stray.is_empty(), "`>` matched zero tokens: {stray:?}");
}

/// A request reaches a responder with a reply subject; the reply and its headers come back.
pub async fn request_reply_round_trip(bus: &dyn MessageBus) {
    let subject = unique("conf.rr.");
    let mut responder = subscribe(bus, &subject, Some("rr")).await;
    let serve = async {
        let request = next(&mut responder, "request").await;
        assert_eq!(request.headers.get("x-request"), Some("1"));
        let mut headers = Headers::new();
        headers.insert("x-reply", "2");
        let reply = Message {
            subject: request
                .reply
                .clone()
                .expect("requests carry a reply subject"),
            reply: None,
            headers,
            payload: [b"re: ".as_ref(), &request.payload].concat().into(),
        };
        bus.publish(reply).await.expect("reply");
    };
    let mut headers = Headers::new();
    headers.insert("x-request", "1");
    let request = Message {
        subject: subject.clone(),
        reply: None,
        headers,
        payload: b"ping".to_vec().into(),
    };
    let (reply, ()) = tokio::join!(bus.request(request, DEADLINE), serve);
    let reply = reply.expect("reply arrives");
    assert_eq!(reply.payload.as_ref(), b"re: ping");
    assert_eq!(reply.headers.get("x-reply"), Some("2"));
}

/// With nobody subscribed, a request fails at once with `NoResponders`.
pub async fn no_responders_fails_fast(bus: &dyn MessageBus) {
    let subject = unique("conf.nobody.");
    let started = Instant::now();
    let result = bus
        .request(Message::new(subject.clone(), b"x".to_vec()), DEADLINE)
        .await;
    assert_eq!(result, Err(Error::NoResponders { subject }));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

/// A subscriber that never answers makes the request fail with `Timeout` after the timeout.
pub async fn request_times_out(bus: &dyn MessageBus) {
    let subject = unique("conf.silent.");
    let _silent = subscribe(bus, &subject, None).await;
    let timeout = Duration::from_millis(200);
    let started = Instant::now();
    let result = bus
        .request(Message::new(subject.clone(), b"x".to_vec()), timeout)
        .await;
    assert_eq!(
        result,
        Err(Error::Timeout {
            subject,
            after: timeout
        })
    );
    assert!(
        started.elapsed() >= timeout,
        "gave up early: {:?}",
        started.elapsed()
    );
}

/// Dropping a subscription unsubscribes: requests then find no responders.
pub async fn dropped_subscription_stops_receiving(bus: &dyn MessageBus) {
    let subject = unique("conf.drop.");
    let mut sub = subscribe(bus, &subject, None).await;
    publish(bus, &subject, b"before").await;
    assert_eq!(
        next(&mut sub, "before drop").await.payload.as_ref(),
        b"before"
    );
    drop(sub);
    // Unsubscribing may take a round trip on a real server: poll with a deadline.
    let deadline = Instant::now() + DEADLINE;
    loop {
        match bus
            .request(
                Message::new(subject.clone(), b"x".to_vec()),
                Duration::from_millis(100),
            )
            .await
        {
            Err(Error::NoResponders { .. }) => break,
            other => assert!(
                Instant::now() < deadline,
                "still subscribed after drop: {other:?}"
            ),
        }
    }
}

/// Malformed subjects are refused with `Invalid`, never sent.
pub async fn invalid_subjects_are_rejected(bus: &dyn MessageBus) {
    for bad in ["", "a..b", "a b", ".a"] {
        let result = bus.publish(Message::new(bad, b"x".to_vec())).await;
        assert!(
            matches!(result, Err(Error::Invalid { .. })),
            "publish {bad:?}: {result:?}"
        );
    }
    let result = bus.publish(Message::new("a.*", b"x".to_vec())).await;
    assert!(
        matches!(result, Err(Error::Invalid { .. })),
        "publish to a wildcard: {result:?}"
    );
    for bad in ["", "a.>.b", "a..b"] {
        let result = bus.subscribe(bad, None).await;
        assert!(
            matches!(result, Err(Error::Invalid { .. })),
            "subscribe {bad:?}"
        );
    }
}

/// Headers NATS cannot carry (a line break in a value, `:` or a space in a name) are refused
/// with `Invalid`, never sent, and the bus keeps working.
pub async fn invalid_headers_are_rejected(bus: &dyn MessageBus) {
    let subject = unique("headers.");
    let mut sub = bus.subscribe(&subject, None).await.unwrap();
    for (name, value) in [
        ("X-Error", "two\nlines"),
        ("X-Error", "cr\r"),
        ("Bad:Name", "v"),
        ("Bad Name", "v"),
    ] {
        let mut message = Message::new(subject.clone(), b"x".to_vec());
        message.headers.insert(name, value);
        let published = bus.publish(message.clone()).await;
        assert!(
            matches!(published, Err(Error::Invalid { .. })),
            "publish with {name:?}: {value:?}: {published:?}"
        );
        let requested = bus.request(message, Duration::from_secs(1)).await;
        assert!(
            matches!(requested, Err(Error::Invalid { .. })),
            "request with {name:?}: {value:?}: {requested:?}"
        );
    }
    let mut fine = Message::new(subject.clone(), b"ok".to_vec());
    fine.headers.insert("X-Error", "one line");
    bus.publish(fine).await.unwrap();
    let received = next(&mut sub, "the valid message").await;
    assert_eq!(received.payload, b"ok".as_slice());
    assert_eq!(received.headers.get("X-Error"), Some("one line"));
}
