//! JetStream KV behaviour that only a real server can show: watches survive a restart;
//! `entries` reads with batched direct gets, and falls back to a listing where the server
//! refuses them.

use std::time::{Duration, Instant};

use aegis::adapters::nats::NatsOptions;
use aegis::ports::{BucketConfig, KvBuckets, KvOperation};
use aegis_tests::nats_server::NatsServer;
use bytes::Bytes;
use futures::StreamExt;

#[tokio::test]
async fn a_watch_resumes_after_a_server_restart_without_repeating_revisions() {
    let mut server = NatsServer::start();
    let (_bus, buckets) = NatsOptions::new(server.url())
        .retry_initial_connect(false)
        .connect_parts()
        .await
        .expect("connects");
    let kv = buckets
        .open_bucket(BucketConfig::new("restart_watch"))
        .await
        .expect("bucket");
    let mut watch = kv.watch("svc.>").await.expect("watch");
    let before = kv
        .put("svc.a", Bytes::from_static(b"1"))
        .await
        .expect("put");
    let seen = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("change before restart")
        .expect("open")
        .expect("entry");
    assert_eq!(seen.revision, before);

    server.restart();
    // Writes fail until the client has reconnected: retry them within a deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        match kv.put("svc.b", Bytes::from_static(b"2")).await {
            Ok(revision) => break revision,
            Err(error) => assert!(
                Instant::now() < deadline,
                "no write 10 s after restart: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await; // retry interval
    };
    assert!(after > before);
    loop {
        let entry = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("the watch delivers again after the restart")
            .expect("open")
            .expect("entry");
        assert!(
            entry.revision > before,
            "revision {} repeated",
            entry.revision
        );
        if entry.key == "svc.b" {
            assert_eq!((entry.revision, entry.operation), (after, KvOperation::Put));
            break;
        }
    }
}

/// What the server was asked while `entries` ran: the batched direct gets of `bucket`, and
/// whether a consumer was created. Seen by a client subscribed to everything, until the
/// sentinel put that follows `entries` on the same connection arrives.
struct Asked {
    direct_gets: usize,
    consumers: usize,
}

async fn spy(url: &str) -> async_nats::Subscriber {
    let client = async_nats::connect(url).await.expect("spy connects");
    let mut everything = client.subscribe(">").await.expect("subscribes");
    // Its own message coming back proves the server has the subscription.
    client
        .publish("spy.ready", Bytes::new())
        .await
        .expect("publishes");
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), everything.next())
            .await
            .expect("the spy hears itself")
            .expect("spy open");
        if message.subject.as_str() == "spy.ready" {
            return everything;
        }
    }
}

async fn asked(spy: &mut async_nats::Subscriber, bucket: &str) -> Asked {
    let (batched, sentinel) = (
        format!("$JS.API.DIRECT.GET.KV_{bucket}"),
        format!("$KV.{bucket}.sentinel"),
    );
    let mut asked = Asked {
        direct_gets: 0,
        consumers: 0,
    };
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), spy.next())
            .await
            .expect("the sentinel arrives")
            .expect("spy open");
        let subject = message.subject.as_str();
        if subject == sentinel {
            return asked;
        } else if subject == batched {
            asked.direct_gets += 1;
        } else if subject.starts_with("$JS.API.CONSUMER.") {
            asked.consumers += 1;
        }
    }
}

/// Bucket `name` on `server`, through Aegis's NATS adapter.
async fn open(server: &NatsServer, name: &str) -> std::sync::Arc<dyn aegis::ports::KvStore> {
    let (_bus, buckets) = NatsOptions::new(server.url())
        .retry_initial_connect(false)
        .connect_parts()
        .await
        .expect("connects");
    buckets
        .open_bucket(BucketConfig::new(name))
        .await
        .expect("bucket")
}

/// `kv.entries("k.>")`, and what it asked the server for.
async fn entries_asked(
    server: &NatsServer,
    kv: &dyn aegis::ports::KvStore,
    bucket: &str,
) -> (Vec<aegis::ports::KvEntry>, Asked) {
    let mut spy = spy(&server.url()).await;
    let entries = kv.entries("k.>").await.expect("entries");
    kv.put("sentinel", Bytes::new()).await.expect("put");
    (entries, asked(&mut spy, bucket).await)
}

async fn put_keys(kv: &dyn aegis::ports::KvStore, count: usize) {
    for i in 0..count {
        kv.put(&format!("k.{i:04}"), Bytes::from(i.to_string()))
            .await
            .expect("put");
    }
}

fn assert_all_keys(entries: &[aegis::ports::KvEntry], count: usize) {
    let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    let expected: Vec<String> = (0..count).map(|i| format!("k.{i:04}")).collect();
    assert_eq!(keys, expected);
}

#[tokio::test]
async fn entries_are_read_in_pages_of_direct_gets_without_a_consumer() {
    let server = NatsServer::start();
    let kv = open(&server, "paged").await;
    put_keys(kv.as_ref(), 300).await;
    let (entries, asked) = entries_asked(&server, kv.as_ref(), "paged").await;
    assert_all_keys(&entries, 300);
    assert_eq!(asked.direct_gets, 2, "300 keys in pages of 256");
    assert_eq!(asked.consumers, 0);
}

#[tokio::test]
async fn entries_fall_back_to_listing_keys_when_direct_gets_are_not_allowed() {
    let server = NatsServer::start();
    let raw = async_nats::jetstream::new(async_nats::connect(server.url()).await.expect("raw"));
    raw.create_stream(async_nats::jetstream::stream::Config {
        name: "KV_nodirect".to_owned(),
        subjects: vec!["$KV.nodirect.>".to_owned()],
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: false,
        ..Default::default()
    })
    .await
    .expect("a KV stream without direct gets");
    let kv = open(&server, "nodirect").await;
    put_keys(kv.as_ref(), 3).await;
    let (entries, asked) = entries_asked(&server, kv.as_ref(), "nodirect").await;
    assert_all_keys(&entries, 3);
    assert_eq!(
        asked.direct_gets, 0,
        "not tried on a stream that refuses them"
    );
    assert!(asked.consumers > 0, "listed with a consumer");
}

#[tokio::test]
async fn entries_fall_back_to_listing_keys_when_more_match_than_the_server_answers() {
    // nats-server answers at most 1024 subjects per batched direct get ("413").
    const KEYS: usize = 1100;
    let server = NatsServer::start();
    let kv = open(&server, "crowded").await;
    put_keys(kv.as_ref(), KEYS).await;
    let (entries, asked) = entries_asked(&server, kv.as_ref(), "crowded").await;
    assert_all_keys(&entries, KEYS);
    assert_eq!(asked.direct_gets, 1, "tried first");
    assert!(asked.consumers > 0, "then listed with a consumer");
}
