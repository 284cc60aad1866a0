//! The 3-node cluster harness against real nats-servers: it forms, a killed stream leader is
//! replaced without losing acknowledged messages, a killed node comes back with its storage,
//! a paused leader is replaced and follows after resuming, and drop cleans up.
//!
//! Multi-threaded runtime: the harness blocks while it polls, the clients keep running.

use std::time::{Duration, Instant};

use aegis_tests::nats_cluster::NatsCluster;
use async_nats::jetstream::{self, message::PublishMessage, publish::PublishAck, stream};
use bytes::Bytes;

/// JetStream elects after 4-9 s of silence from a leader; leave room for a loaded machine.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between two tries of a request that fails while the cluster changes.
const RETRY: Duration = Duration::from_millis(100);

fn urls(cluster: &NatsCluster) -> Vec<String> {
    cluster.urls().split(',').map(str::to_owned).collect()
}

async fn connect(urls: Vec<String>) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .retain_servers_order()
        .connect(urls)
        .await
        .expect("connects to the cluster")
}

/// A JetStream context whose requests give up after a second, so a retry comes soon.
fn jetstream(client: async_nats::Client) -> jetstream::Context {
    let mut js = jetstream::new(client);
    js.set_timeout(Duration::from_secs(1));
    js
}

fn r3(name: &str) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        subjects: vec![format!("{name}.>")],
        num_replicas: 3,
        ..Default::default()
    }
}

/// Publishes message `n` to `stream` until acknowledged; the message id makes retries
/// idempotent, so a retry of a stored but unacknowledged message is not stored twice.
async fn publish_until_acked(js: &jetstream::Context, stream: &str, n: u32) -> PublishAck {
    let deadline = Instant::now() + ELECTION_TIMEOUT;
    loop {
        let message = PublishMessage::build()
            .payload(Bytes::from(format!("message {n}")))
            .message_id(format!("{stream}-{n}"));
        let error = match js.send_publish(format!("{stream}.m"), message).await {
            Ok(ack) => match ack.await {
                Ok(ack) => return ack,
                Err(error) => error.to_string(),
            },
            Err(error) => error.to_string(),
        };
        assert!(
            Instant::now() < deadline,
            "message {n} not acknowledged within {ELECTION_TIMEOUT:?}: {error}"
        );
        tokio::time::sleep(RETRY).await;
    }
}

/// Creates `stream` (R3), asking again while the request times out: on a just-formed cluster
/// under load, the stream's group may take longer to form than the 1 s request timeout.
/// Creating with the same config is idempotent, so a retry after a lost answer is harmless.
async fn create_r3_stream(js: &jetstream::Context, name: &str) {
    let deadline = Instant::now() + ELECTION_TIMEOUT;
    loop {
        let error = match js.create_stream(r3(name)).await {
            Ok(_) => return,
            Err(error) => error.to_string(),
        };
        assert!(
            Instant::now() < deadline,
            "stream {name} not created within {ELECTION_TIMEOUT:?}: {error}"
        );
        tokio::time::sleep(RETRY).await;
    }
}

async fn publish_range(
    js: &jetstream::Context,
    stream: &str,
    ns: std::ops::Range<u32>,
) -> Vec<(u32, PublishAck)> {
    let mut acked = Vec::new();
    for n in ns {
        acked.push((n, publish_until_acked(js, stream, n).await));
    }
    acked
}

/// Reads message `sequence` of `stream` through its leader, retrying while there is none.
async fn read_back(js: &jetstream::Context, stream: &str, sequence: u64) -> Bytes {
    let deadline = Instant::now() + ELECTION_TIMEOUT;
    loop {
        let read = async {
            let stream = js.get_stream(stream).await.map_err(|e| e.to_string())?;
            stream
                .get_raw_message(sequence)
                .await
                .map_err(|e| e.to_string())
        };
        match read.await {
            Ok(message) => return message.payload,
            Err(error) => assert!(
                Instant::now() < deadline,
                "message {sequence} not readable within {ELECTION_TIMEOUT:?}: {error}"
            ),
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// How many messages node `i`'s replica of `stream` holds.
fn messages_on(cluster: &NatsCluster, i: usize, stream: &str) -> Option<u64> {
    cluster
        .stream_detail(i, stream)?
        .pointer("/state/messages")?
        .as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_forms_with_one_meta_leader_that_every_node_names() {
    let cluster = NatsCluster::start(3);

    let leader = cluster.meta_leader().expect("a meta leader once started");
    for i in 0..3 {
        assert!(cluster.healthy(i), "{} is not healthy", cluster.name(i));
        assert_eq!(
            cluster.meta_leader_seen_by(i),
            Some(leader),
            "{}",
            cluster.name(i)
        );
    }
    // Each URL reaches its own node, and `urls()` lists them all.
    assert_eq!(
        urls(&cluster),
        (0..3).map(|i| cluster.url(i)).collect::<Vec<_>>()
    );
    for i in 0..3 {
        let client = connect(vec![cluster.url(i)]).await;
        assert_eq!(client.server_info().server_name, cluster.name(i));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_r3_stream_keeps_every_acknowledged_message_when_its_leader_is_killed() {
    let mut cluster = NatsCluster::start(3);
    let setup = jetstream(connect(urls(&cluster)).await);
    create_r3_stream(&setup, "ORDERS").await;
    let leader = cluster.wait_for("a leader of ORDERS", ELECTION_TIMEOUT, |c| {
        c.stream_leader("ORDERS")
    });
    // The publisher is on the leader's node (all URLs, that one first): the kill also makes it
    // reconnect to another.
    let mut ordered = urls(&cluster);
    ordered.rotate_left(leader);
    let client = connect(ordered).await;
    assert_eq!(client.server_info().server_name, cluster.name(leader));
    let js = jetstream(client);

    let mut acked = publish_range(&js, "ORDERS", 0..10).await;
    cluster.kill(leader);
    acked.extend(publish_range(&js, "ORDERS", 10..20).await);

    let new_leader = cluster.wait_for("another leader of ORDERS", ELECTION_TIMEOUT, |c| {
        c.stream_leader("ORDERS").filter(|&l| l != leader)
    });
    assert!(cluster.is_running(new_leader) && !cluster.is_running(leader));
    for (n, ack) in &acked {
        let payload = read_back(&js, "ORDERS", ack.sequence).await;
        assert_eq!(
            payload,
            format!("message {n}").as_bytes(),
            "sequence {}",
            ack.sequence
        );
    }
    let sequences: Vec<u64> = acked.iter().map(|(_, ack)| ack.sequence).collect();
    assert_eq!(
        sequences,
        (1..=20).collect::<Vec<_>>(),
        "one stored message per publish"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_restarts_with_its_storage_and_rejoins() {
    let mut cluster = NatsCluster::start(3);
    let js = jetstream(connect(urls(&cluster)).await);
    create_r3_stream(&js, "EVENTS").await;
    let leader = cluster.wait_for("a leader of EVENTS", ELECTION_TIMEOUT, |c| {
        c.stream_leader("EVENTS")
    });
    // A follower, so that killing it needs no election.
    let node = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    publish_range(&js, "EVENTS", 0..5).await;
    cluster.wait_for("the follower holding 5 messages", ELECTION_TIMEOUT, |c| {
        (messages_on(c, node, "EVENTS") == Some(5)).then_some(())
    });
    let stored = cluster.store_dir(node).join("$G/streams/EVENTS");
    assert!(stored.is_dir(), "{} missing", stored.display());

    cluster.kill(node);
    assert!(!cluster.is_running(node));
    publish_range(&js, "EVENTS", 5..10).await;
    cluster.restart(node);

    // It found the stream in its own store before any route was up, then caught up on what it
    // missed. (How many messages it restores from the store varies: SIGKILL loses what was not
    // yet flushed, and the raft log replays that.)
    let log = cluster.log(node);
    let restore = log.find("Starting restore for stream '$G > EVENTS'");
    let routes = log.find("Listening for route connections");
    assert!(restore.is_some() && restore < routes, "{log}");
    cluster.wait_for(
        "the restarted node holding 10 messages",
        ELECTION_TIMEOUT,
        |c| (messages_on(c, node, "EVENTS") == Some(10)).then_some(()),
    );
    // A voter again: with the third node gone, no write is acknowledged without it.
    cluster.kill(other);
    let ack = publish_until_acked(&js, "EVENTS", 10).await;
    assert_eq!(ack.sequence, 11);
    assert_eq!(cluster.stream_leader("EVENTS"), Some(leader));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_and_follows_the_new_one_after_resuming() {
    let mut cluster = NatsCluster::start(3);
    let setup = jetstream(connect(urls(&cluster)).await);
    create_r3_stream(&setup, "JOBS").await;
    let paused = cluster.wait_for("a leader of JOBS", ELECTION_TIMEOUT, |c| {
        c.stream_leader("JOBS")
    });
    drop(setup); // may be on the node about to freeze

    cluster.pause(paused);
    assert!(cluster.is_running(paused) && cluster.is_paused(paused));
    let leader = cluster.wait_for(
        "a leader of JOBS besides the paused node",
        ELECTION_TIMEOUT,
        |c| c.stream_leader("JOBS").filter(|&l| l != paused),
    );
    let js = jetstream(connect(vec![cluster.url(leader)]).await);
    assert_eq!(publish_until_acked(&js, "JOBS", 0).await.sequence, 1);

    cluster.resume(paused);
    cluster.wait_for(
        "the resumed node following the new leader",
        ELECTION_TIMEOUT,
        |c| {
            let follows = c.stream_leader_seen_by(paused, "JOBS") == Some(leader)
                && c.stream_leader("JOBS") == Some(leader)
                && messages_on(c, paused, "JOBS") == Some(1);
            follows.then_some(())
        },
    );
}

#[test]
fn dropping_a_cluster_with_a_paused_node_ends_every_process_and_removes_its_files() {
    let mut cluster = NatsCluster::start(3);
    cluster.pause(1);
    cluster.kill(2);
    let pids: Vec<u32> = (0..2).filter_map(|i| cluster.pid(i)).collect();
    let stores: Vec<_> = (0..3).map(|i| cluster.store_dir(i)).collect();
    assert_eq!(pids.len(), 2);

    drop(cluster);

    for pid in pids {
        let alive = std::process::Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run kill(1)")
            .success();
        assert!(!alive, "nats-server {pid} outlived the cluster");
    }
    for store in stores {
        assert!(!store.exists(), "{} outlived the cluster", store.display());
    }
}
