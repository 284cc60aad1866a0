//! A drained subscription answers every request the server routed to it.
//!
//! async-nats 0.51 forgets a draining subscription as soon as its UNSUB is written, not when
//! the server has confirmed it (the PONG after it): a request the server routed to the
//! subscription in the meantime was dropped, and its caller waited for its timeout. A
//! graceful handover of a single-active service lost one call in twenty this way. The
//! patched copy in `patches/async-nats` waits for the PONG; this test holds it to that.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aegis_tests::nats_cluster::NatsCluster;
use aegis_tests::nats_server::NatsServer;
use futures::StreamExt;

/// Requests routed to a subscription while it drains all get their answer: each caller
/// gets a reply or "no responders", never silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_subscription_answers_every_request_routed_to_it() {
    let server = NatsServer::start();
    let (answered, unanswered) = drain_under_load(&server.url(), &server.url(), 300).await;
    assert!(answered >= 300 * 200);
    assert_eq!(
        unanswered, 0,
        "requests routed to a draining subscription went unanswered ({answered} answered)"
    );
}

/// The same across a cluster, caller and responder on different nodes. Not a check but a
/// measurement of nats-server, which the patch cannot change: a node that has processed the
/// UNSUB drops a request another node routed to it before it learnt of the UNSUB (2026-12-02,
/// 2.15.1: 50 and 62 unanswered in 100 drains). Run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of nats-server's route behaviour, not a check"]
async fn across_a_cluster_requests_in_flight_to_a_draining_node_are_lost() {
    let cluster = NatsCluster::start(3);
    let (answered, unanswered) = drain_under_load(&cluster.url(1), &cluster.url(0), 100).await;
    println!("across a cluster: {unanswered} unanswered, {answered} answered in 100 drains");
}

/// `rounds` times: a responder on `responder_url` answers 200 requests from 8 callers on
/// `caller_url`, then drains and answers what still comes. Returns the requests answered and
/// those that timed out.
async fn drain_under_load(caller_url: &str, responder_url: &str, rounds: usize) -> (usize, usize) {
    let callers = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_millis(500)))
        .connect(caller_url)
        .await
        .expect("caller connects");
    let (mut answered, mut timed_out) = (0, 0);
    for _round in 0..rounds {
        let responder = async_nats::connect(responder_url)
            .await
            .expect("responder connects");
        let mut sub = responder
            .queue_subscribe("drain.test", "q".into())
            .await
            .expect("subscribes");
        responder.flush().await.expect("flushed");
        let running = Arc::new(AtomicBool::new(true));
        let (ok, silent) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut load = Vec::new();
        for _ in 0..8 {
            let (callers, running) = (callers.clone(), Arc::clone(&running));
            let (ok, silent) = (Arc::clone(&ok), Arc::clone(&silent));
            load.push(tokio::spawn(async move {
                while running.load(Ordering::Relaxed) {
                    match callers.request("drain.test", "ping".into()).await {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) if e.kind() == async_nats::RequestErrorKind::TimedOut => {
                            silent.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(_) => 0, // no responders: the drain is over
                    };
                }
            }));
        }
        let mut replied = 0;
        while replied < 200 {
            let request = sub.next().await.expect("a request");
            let reply = request.reply.expect("a reply subject");
            responder
                .publish(reply, "pong".into())
                .await
                .expect("replies");
            replied += 1;
        }
        sub.drain().await.expect("drains");
        while let Some(request) = sub.next().await {
            let reply = request.reply.expect("a reply subject");
            responder
                .publish(reply, "pong".into())
                .await
                .expect("replies");
        }
        responder.flush().await.expect("flushed");
        running.store(false, Ordering::Relaxed);
        for task in load {
            task.await.expect("caller");
        }
        answered += ok.load(Ordering::Relaxed);
        timed_out += silent.load(Ordering::Relaxed);
    }
    (answered, timed_out)
}
