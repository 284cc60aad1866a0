//! JetStream KV behaviour that only a real server can show: watches survive a restart.

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
