//! Conformance of [`KvBuckets`] / [`KvStore`] adapters.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;

use super::{DEADLINE, unique};
use crate::Error;
use crate::ports::{BucketConfig, KvBuckets, KvEntry, KvOperation, KvStore};

async fn open(buckets: &dyn KvBuckets, config: BucketConfig) -> Arc<dyn KvStore> {
    let name = config.name.clone();
    buckets
        .open_bucket(config)
        .await
        .unwrap_or_else(|e| panic!("open bucket {name}: {e}"))
}

async fn fresh(buckets: &dyn KvBuckets) -> Arc<dyn KvStore> {
    open(buckets, BucketConfig::new(unique("conf_"))).await
}

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, Error>) -> bool {
    matches!(result, Err(Error::Conflict { .. }))
}

/// `put` returns strictly increasing, bucket-wide revisions; `get` returns the latest value.
pub async fn put_get_and_revisions(buckets: &dyn KvBuckets) {
    let kv = fresh(buckets).await;
    let r1 = kv.put("a", Bytes::from_static(b"1")).await.expect("put");
    let r2 = kv.put("b", Bytes::from_static(b"2")).await.expect("put");
    let r3 = kv.put("a", Bytes::from_static(b"3")).await.expect("put");
    assert!(
        r1 < r2 && r2 < r3,
        "revisions increase across keys: {r1} {r2} {r3}"
    );
    let a = kv.get("a").await.expect("get").expect("a exists");
    assert_eq!(a.value.as_ref(), b"3");
    assert_eq!(a.revision, r3);
    assert_eq!(a.operation, KvOperation::Put);
    assert_eq!(kv.get("missing").await.expect("get"), None);
}

/// `create` fails on a live key and succeeds over a deleted one.
pub async fn create_conflicts_on_live_keys(buckets: &dyn KvBuckets) {
    let kv = fresh(buckets).await;
    let first = kv
        .create("lease", Bytes::from_static(b"a"))
        .await
        .expect("create");
    assert!(is_conflict(
        &kv.create("lease", Bytes::from_static(b"b")).await
    ));
    kv.delete("lease", Some(first)).await.expect("delete");
    assert_eq!(kv.get("lease").await.expect("get"), None);
    let again = kv
        .create("lease", Bytes::from_static(b"c"))
        .await
        .expect("create over tombstone");
    assert!(again > first);
}

/// `update` succeeds only with the key's latest revision.
pub async fn update_requires_the_latest_revision(buckets: &dyn KvBuckets) {
    let kv = fresh(buckets).await;
    let r1 = kv
        .create("k", Bytes::from_static(b"1"))
        .await
        .expect("create");
    let r2 = kv
        .update("k", Bytes::from_static(b"2"), r1)
        .await
        .expect("update with latest");
    assert!(
        is_conflict(&kv.update("k", Bytes::from_static(b"x"), r1).await),
        "stale revision"
    );
    let r3 = kv
        .update("k", Bytes::from_static(b"3"), r2)
        .await
        .expect("update with latest");
    assert_eq!(kv.get("k").await.expect("get").expect("k").revision, r3);
    // Another key's write moves the bucket revision but not this key's.
    kv.put("other", Bytes::new()).await.expect("put");
    kv.update("k", Bytes::from_static(b"4"), r3)
        .await
        .expect("still latest for k");
}

/// `delete` with a revision succeeds only with the latest one.
pub async fn delete_requires_the_latest_revision(buckets: &dyn KvBuckets) {
    let kv = fresh(buckets).await;
    let r1 = kv.put("k", Bytes::from_static(b"1")).await.expect("put");
    let r2 = kv.put("k", Bytes::from_static(b"2")).await.expect("put");
    assert!(
        is_conflict(&kv.delete("k", Some(r1)).await),
        "stale revision"
    );
    assert!(kv.get("k").await.expect("get").is_some());
    kv.delete("k", Some(r2)).await.expect("delete with latest");
    assert_eq!(kv.get("k").await.expect("get"), None);
}

/// `keys` lists keys with a live value only.
pub async fn keys_lists_live_keys(buckets: &dyn KvBuckets) {
    let kv = fresh(buckets).await;
    kv.put("svc.a", Bytes::from_static(b"1"))
        .await
        .expect("put");
    kv.put("svc.b", Bytes::from_static(b"2"))
        .await
        .expect("put");
    kv.put("svc.c", Bytes::from_static(b"3"))
        .await
        .expect("put");
    kv.delete("svc.b", None).await.expect("delete");
    let mut keys = kv.keys().await.expect("keys");
    keys.sort();
    assert_eq!(keys, ["svc.a", "svc.c"]);
}

/// `entries` gives the latest value of each live key matching the pattern, sorted by key.
pub async fn entries_are_the_latest_live_values_by_pattern(buckets: &dyn KvBuckets) {
    let kv = fresh(buckets).await;
    assert_eq!(kv.entries(">").await.expect("entries"), [], "empty bucket");
    kv.put("svc.a", Bytes::from_static(b"a1"))
        .await
        .expect("put");
    kv.put("svc.b", Bytes::from_static(b"b1"))
        .await
        .expect("put");
    let c = kv
        .put("svc.c", Bytes::from_static(b"c1"))
        .await
        .expect("put");
    let deep = kv
        .put("svc.deep.d", Bytes::from_static(b"d1"))
        .await
        .expect("put");
    let other = kv
        .put("other.x", Bytes::from_static(b"x1"))
        .await
        .expect("put");
    let a = kv
        .put("svc.a", Bytes::from_static(b"a2"))
        .await
        .expect("put");
    kv.delete("svc.b", None).await.expect("delete");
    let put = |key: &str, value: &'static [u8], revision| KvEntry {
        key: key.to_owned(),
        value: Bytes::from_static(value),
        revision,
        operation: KvOperation::Put,
    };
    let (a, c) = (put("svc.a", b"a2", a), put("svc.c", b"c1", c));
    let (deep, other) = (put("svc.deep.d", b"d1", deep), put("other.x", b"x1", other));
    let entries = |pattern: &'static str| {
        let kv = Arc::clone(&kv);
        async move { kv.entries(pattern).await.expect("entries") }
    };
    assert_eq!(entries("svc.*").await, [a.clone(), c.clone()]);
    assert_eq!(entries("svc.>").await, [a.clone(), c.clone(), deep.clone()]);
    assert_eq!(entries(">").await, [other, a, c, deep]);
    assert_eq!(entries("svc.b").await, [], "a deleted key");
    assert_eq!(entries("nothing.>").await, []);
    assert!(matches!(
        kv.entries("svc..a").await,
        Err(Error::Invalid { .. })
    ));
}

/// `*` matches the one-token keys (the Python SDK's registry keys, `a__b__c`), and only
/// those, in `entries` and `watch`; `>` matches every key.
pub async fn star_matches_single_token_keys(buckets: &dyn KvBuckets) {
    let kv = fresh(buckets).await;
    let mut one_token = kv.watch("*").await.expect("watch *");
    let mut every = kv.watch(">").await.expect("watch >");
    let mut revisions = Vec::new();
    for key in ["svc.a", "p__s__i-1", "plain", "svc.b.c", "p__s__i-2"] {
        let revision = kv.put(key, Bytes::from(key)).await.expect("put");
        revisions.push((key, revision));
    }
    kv.delete("plain", None).await.expect("delete");
    let keys =
        |entries: Vec<KvEntry>| -> Vec<String> { entries.into_iter().map(|e| e.key).collect() };
    assert_eq!(
        keys(kv.entries("*").await.expect("entries")),
        ["p__s__i-1", "p__s__i-2"]
    );
    assert_eq!(
        keys(kv.entries(">").await.expect("entries")),
        ["p__s__i-1", "p__s__i-2", "svc.a", "svc.b.c"]
    );
    let put = KvOperation::Put;
    for expected in [
        ("p__s__i-1", put),
        ("plain", put),
        ("p__s__i-2", put),
        ("plain", KvOperation::Delete),
    ] {
        let (key, operation) = next(&mut one_token).await;
        assert_eq!((key.as_str(), operation), expected);
    }
    for (key, _) in &revisions {
        assert_eq!(next(&mut every).await, ((*key).to_owned(), put));
    }
    assert_eq!(
        next(&mut every).await,
        ("plain".to_owned(), KvOperation::Delete)
    );
}

async fn next(watch: &mut crate::ports::KvWatch) -> (String, KvOperation) {
    let entry = tokio::time::timeout(DEADLINE, watch.next())
        .await
        .expect("a change within the deadline")
        .expect("watch open")
        .expect("watch entry");
    (entry.key, entry.operation)
}

/// `entries` reads them all when more keys match than a backend may answer at once.
pub async fn entries_reads_many_keys(buckets: &dyn KvBuckets) {
    const KEYS: usize = 300;
    let kv = fresh(buckets).await;
    let key = |i: usize| format!("many.k{i:03}");
    for i in 0..KEYS {
        kv.put(&key(i), Bytes::from(i.to_string()))
            .await
            .expect("put");
    }
    // The oldest key rewritten and one deleted: both now come last in the bucket.
    kv.put(&key(0), Bytes::from_static(b"rewritten"))
        .await
        .expect("put");
    kv.delete(&key(150), None).await.expect("delete");
    let entries = kv.entries("many.>").await.expect("entries");
    let expected: Vec<(String, String)> = (0..KEYS)
        .filter(|&i| i != 150)
        .map(|i| {
            let value = if i == 0 {
                "rewritten".to_owned()
            } else {
                i.to_string()
            };
            (key(i), value)
        })
        .collect();
    let seen: Vec<(String, String)> = entries
        .into_iter()
        .map(|e| (e.key, String::from_utf8_lossy(&e.value).into_owned()))
        .collect();
    assert_eq!(seen, expected);
}

/// A watch sees every later change of matching keys, puts and deletes, in revision order, and
/// nothing of other keys.
pub async fn watch_sees_changes_in_revision_order(buckets: &dyn KvBuckets) {
    const WRITERS: usize = 4;
    const CHANGES: usize = 10;
    // What writer `w` does at step `i`: the key, and the value put (`None` for a delete).
    fn change(w: usize, i: usize) -> (String, Option<String>) {
        let key = format!("watched.w{w}.k{}", i % 3);
        (key, (i % 4 != 3).then(|| format!("{w}-{i}")))
    }

    let kv = fresh(buckets).await;
    let mut watch = kv.watch("watched.>").await.expect("watch");
    let writers = (0..WRITERS).map(|w| {
        let kv = Arc::clone(&kv);
        tokio::spawn(async move {
            for i in 0..CHANGES {
                match change(w, i) {
                    (key, None) => kv.delete(&key, None).await.expect("delete"),
                    (key, Some(value)) => {
                        kv.put(&key, Bytes::from(value)).await.expect("put");
                    }
                }
                kv.put(&format!("ignored.w{w}"), Bytes::new())
                    .await
                    .expect("put");
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.expect("writer");
    }
    let mut last = 0;
    let mut per_writer: Vec<Vec<(String, Option<String>)>> = vec![Vec::new(); WRITERS];
    for n in 0..WRITERS * CHANGES {
        let entry = tokio::time::timeout(DEADLINE, watch.next())
            .await
            .unwrap_or_else(|_| panic!("watch stalled after {n} of {} changes", WRITERS * CHANGES))
            .expect("watch open")
            .expect("watch entry");
        assert!(
            entry.revision > last,
            "revision order: {} after {last}",
            entry.revision
        );
        last = entry.revision;
        let writer = entry
            .key
            .strip_prefix("watched.w")
            .and_then(|rest| rest.split('.').next())
            .and_then(|w| w.parse::<usize>().ok())
            .filter(|&w| w < WRITERS)
            .unwrap_or_else(|| panic!("watch saw a key it does not match: {}", entry.key));
        let value = match entry.operation {
            KvOperation::Put => Some(String::from_utf8_lossy(&entry.value).into_owned()),
            KvOperation::Delete | KvOperation::Purge => {
                assert!(entry.value.is_empty(), "a delete carries no value");
                None
            }
        };
        per_writer[writer].push((entry.key, value));
    }
    // Each writer's changes are sequential, so the watch must show them in that order.
    for (w, seen) in per_writer.iter().enumerate() {
        let expected: Vec<_> = (0..CHANGES).map(|i| change(w, i)).collect();
        assert_eq!(seen, &expected, "changes of writer {w}");
    }
    // One more change proves nothing else was queued in between.
    let sentinel = kv
        .put("watched.sentinel", Bytes::from_static(b"s"))
        .await
        .expect("put");
    let entry = tokio::time::timeout(DEADLINE, watch.next())
        .await
        .expect("sentinel")
        .expect("open")
        .expect("entry");
    assert_eq!(
        (entry.key.as_str(), entry.revision),
        ("watched.sentinel", sentinel)
    );
}

/// With `max_age`, a value disappears once it is older than that; the key can be created
/// again.
pub async fn values_expire_after_max_age(buckets: &dyn KvBuckets) {
    let max_age = Duration::from_secs(1);
    let kv = open(
        buckets,
        BucketConfig::new(unique("conf_ttl_")).max_age(max_age),
    )
    .await;
    let written = Instant::now();
    kv.create("lease", Bytes::from_static(b"a"))
        .await
        .expect("create");
    let present = kv.get("lease").await.expect("get").is_some();
    assert!(
        present || written.elapsed() >= max_age,
        "value missing right after put"
    );
    let deadline = Instant::now() + max_age + DEADLINE;
    loop {
        if kv.get("lease").await.expect("get").is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "value outlived max_age by {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // polling interval, not a wait for an outcome
    }
    assert!(
        written.elapsed() >= max_age,
        "value vanished before max_age"
    );
    assert_eq!(kv.entries(">").await.expect("entries"), [], "expired");
    kv.create("lease", Bytes::from_static(b"b"))
        .await
        .expect("create after expiry");
}

/// With `announce_expiry`, a watcher sees a value that `max_age` removes as a purge: no
/// sooner than `max_age` after the write, and soon after it.
pub async fn expiry_is_announced_when_asked(buckets: &dyn KvBuckets) {
    let max_age = Duration::from_secs(1);
    let config = BucketConfig::new(unique("conf_expiry_"))
        .max_age(max_age)
        .announce_expiry();
    let kv = open(buckets, config).await;
    let mut changes = kv.watch("lease").await.expect("watch");
    let written = Instant::now();
    let revision = kv
        .create("lease", Bytes::from_static(b"a"))
        .await
        .expect("create");
    let put = tokio::time::timeout(DEADLINE, changes.next())
        .await
        .expect("the put in time")
        .expect("watch open")
        .expect("entry");
    assert_eq!((put.operation, put.revision), (KvOperation::Put, revision));
    let expired = tokio::time::timeout(max_age + DEADLINE, changes.next())
        .await
        .expect("the expiry announced in time")
        .expect("watch open")
        .expect("entry");
    let after = written.elapsed();
    assert_eq!(expired.operation, KvOperation::Purge, "{expired:?}");
    assert!(expired.revision > revision, "{expired:?}");
    assert!(after >= max_age, "announced {after:?} after the write");
    assert!(kv.get("lease").await.expect("get").is_none());
    assert_eq!(
        kv.entries(">").await.expect("entries"),
        [],
        "the expiry is no value"
    );
    kv.create("lease", Bytes::from_static(b"b"))
        .await
        .expect("create after the announced expiry");
}

/// `keys` lists each live key once, even while the keys are being rewritten.
pub async fn keys_are_unique_while_written(buckets: &dyn KvBuckets) {
    let mut config = BucketConfig::new(unique("conf_keys_"));
    config.history = 10;
    let kv = open(buckets, config).await;
    let names = ["busy.a", "busy.b", "busy.c"];
    for name in names {
        kv.put(name, Bytes::from_static(b"0")).await.expect("put");
    }
    let writer = {
        let kv = Arc::clone(&kv);
        tokio::spawn(async move {
            for i in 0u32.. {
                for name in names {
                    kv.put(name, Bytes::from(i.to_string())).await.expect("put");
                }
                tokio::task::yield_now().await;
            }
        })
    };
    for _ in 0..50 {
        let mut keys = kv.keys().await.expect("keys");
        keys.sort();
        assert_eq!(keys, names, "each live key exactly once");
    }
    writer.abort();
}

/// `existing_bucket` opens a bucket that exists, and neither finds nor creates one that
/// does not.
pub async fn existing_bucket_finds_only_what_exists(buckets: &dyn KvBuckets) {
    let name = unique("conf_");
    assert!(
        buckets
            .existing_bucket(&name)
            .await
            .expect("look up")
            .is_none(),
        "a bucket never opened must not be found"
    );
    assert!(
        buckets
            .existing_bucket(&name)
            .await
            .expect("look up")
            .is_none(),
        "looking a bucket up must not create it"
    );
    let kv = open(buckets, BucketConfig::new(name.clone())).await;
    let revision = kv.put("k", Bytes::from_static(b"v")).await.expect("put");
    let found = buckets
        .existing_bucket(&name)
        .await
        .expect("look up")
        .expect("the bucket was created");
    let entry = found.get("k").await.expect("get").expect("a value");
    assert_eq!(
        (entry.value.as_ref(), entry.revision),
        (&b"v"[..], revision)
    );
}
