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

use aegis_tests::nats_server::NatsServer;
use futures::StreamExt;

/// Requests routed to a subscription while it drains all get their answer: each caller
/// gets a reply or "no responders", never silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_subscription_answers_every_request_routed_to_it() {
    let server = NatsServer::start();
    let callers = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_millis(500)))
        .connect(server.url())
        .await
        .expect("caller connects");
    let (mut answered, mut timed_out) = (0, 0);
    for _round in 0..300 {
        let responder = async_nats::connect(server.url())
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
    assert!(answered >= 20 * 200);
    assert_eq!(
        timed_out, 0,
        "requests routed to a draining subscription went unanswered ({answered} answered)"
    );
}
