//! Trace propagation scenarios, run on every backend (`tests/propagation_memory.rs`,
//! `tests/propagation_nats.rs`): one trace from a client through two services, an event and
//! a command, with every handler's span a child of the span that sent its message.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aegis::domain::envelope::RpcResponse;
use aegis::domain::headers::TRACEPARENT_HEADER;
use aegis::events::{EventPublisher, Topic};
use aegis::ports::{Headers, Message};
use aegis::{
    Backend, CommandContext, Event, RequestContext, RpcError, ServiceBuilder, ServiceConfig,
    ServiceHandle, TraceContext, within_trace,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// What one handler saw of its trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The handler.
    pub name: String,
    /// Its trace.
    pub trace_id: String,
    /// Its span.
    pub span_id: String,
    /// The span that sent its message.
    pub parent_span_id: Option<String>,
}

impl Seen {
    fn of(name: &str, trace: &TraceContext) -> Self {
        Seen {
            name: name.to_owned(),
            trace_id: trace.trace_id(),
            span_id: trace.span_id(),
            parent_span_id: trace.parent_span_id(),
        }
    }
}

/// The event `back` publishes.
#[derive(Debug, Serialize, Deserialize)]
pub struct Done {
    /// Anything.
    pub n: u32,
}

fn done() -> Topic<Done> {
    Topic::new("audit", "done").unwrap()
}

/// The first service: calls `back`, and reports what both saw.
#[derive(Debug)]
pub struct Front {
    backend: Backend,
}

#[aegis::service(name = "front", version = "1.0.0")]
impl Front {
    /// Its own trace, then `back`'s.
    #[rpc]
    async fn relay(&self, ctx: &RequestContext) -> Result<Vec<Seen>, aegis::Error> {
        let back = BackClient::new(&self.backend).work().await?;
        Ok(vec![Seen::of("front.relay", ctx.trace()), back])
    }
}

/// The second service: publishes an event and sends a command to `sink`.
#[derive(Debug)]
pub struct Back {
    backend: Backend,
}

#[aegis::service(name = "back", version = "1.0.0")]
impl Back {
    /// Publishes `audit.done` and runs `sink.archive`, then reports its own trace.
    #[rpc]
    async fn work(&self, ctx: &RequestContext) -> Result<Seen, aegis::Error> {
        EventPublisher::new(&self.backend)?
            .publish(&done(), &Done { n: 1 })
            .await?;
        // Awaited: a worker whose caller has gone keeps offering the outcome for a while.
        SinkClient::new(&self.backend)
            .archive()
            .await?
            .result()
            .await?;
        Ok(Seen::of("back.work", ctx.trace()))
    }

    /// Always refused: 403.
    #[rpc]
    async fn refuse(&self) -> Result<(), RpcError> {
        Err(RpcError::forbidden("not you"))
    }
}

/// Records the traces its event and command handlers run in.
#[derive(Debug, Default)]
pub struct Sink {
    seen: Mutex<Vec<Seen>>,
    changed: Notify,
}

impl Sink {
    fn record(&self, seen: Seen) {
        self.seen.lock().unwrap().push(seen);
        self.changed.notify_waiters();
    }

    /// Waits (up to 10 s) until `count` handlers have recorded.
    async fn wait_for(&self, count: usize) -> Vec<Seen> {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                // Registered before the check: a record made in between still wakes us.
                let mut changed = std::pin::pin!(self.changed.notified());
                changed.as_mut().enable();
                let seen = self.seen.lock().unwrap().clone();
                if seen.len() >= count {
                    return seen;
                }
                changed.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("handlers recorded: {:?}", self.seen.lock().unwrap()))
    }
}

#[aegis::service(name = "sink", version = "1.0.0")]
impl Sink {
    /// Records the event's trace.
    #[subscribe("audit.done")]
    async fn on_done(&self, event: Event<Done>) {
        self.record(Seen::of("sink.on_done", event.trace()));
    }

    /// Records the command's trace.
    #[command]
    async fn archive(&self, ctx: &CommandContext) -> Result<(), RpcError> {
        self.record(Seen::of("sink.archive", ctx.trace()));
        Ok(())
    }
}

/// `front`, `back` and `sink` running on one backend.
#[derive(Debug)]
pub struct Fleet {
    handles: Vec<ServiceHandle>,
    sink: Arc<Sink>,
}

impl Fleet {
    /// Starts the three services (unregistered).
    pub async fn start(backend: &Backend) -> Self {
        let config = || ServiceConfig::new().enable_registration(false);
        let sink = Arc::new(Sink::default());
        let front = Front {
            backend: backend.clone(),
        };
        let back = Back {
            backend: backend.clone(),
        };
        let handles = vec![
            ServiceBuilder::new(front)
                .config(config())
                .start(backend)
                .await,
            ServiceBuilder::new(back)
                .config(config())
                .start(backend)
                .await,
            ServiceBuilder::from_arc(Arc::clone(&sink))
                .config(config())
                .start(backend)
                .await,
        ];
        Fleet {
            handles: handles.into_iter().map(Result::unwrap).collect(),
            sink,
        }
    }

    /// Calls `front.relay`: what `front` and `back` saw, in that order.
    pub async fn relay(backend: &Backend) -> [Seen; 2] {
        let calls = FrontClient::new(backend).relay().await.unwrap();
        <[Seen; 2]>::try_from(calls).unwrap()
    }

    /// What `sink`'s command and event handlers saw (`archive`, then `on_done`), once both
    /// have run.
    pub async fn sunk(&self) -> [Seen; 2] {
        let mut sunk = self.sink.wait_for(2).await;
        sunk.sort_by(|a, b| a.name.cmp(&b.name));
        <[Seen; 2]>::try_from(sunk).unwrap()
    }

    /// Stops the services.
    pub async fn stop(self) {
        for handle in self.handles {
            handle.stop().await.unwrap();
        }
    }
}

/// A client call made in a trace reaches `front`, then `back`, then `sink`'s event and
/// command handlers: one trace id, each span the child of the one that sent its message.
pub async fn one_trace_across_calls_events_and_commands(backend: &Backend) {
    let fleet = Fleet::start(backend).await;
    let caller = TraceContext::root();
    let [front, back] = within_trace(caller.clone(), Fleet::relay(backend)).await;
    let [archive, on_done] = fleet.sunk().await;

    for seen in [&front, &back, &archive, &on_done] {
        assert_eq!(seen.trace_id, caller.trace_id(), "{seen:?}");
    }
    assert_eq!(front.parent_span_id, Some(caller.span_id()));
    assert_eq!(back.parent_span_id, Some(front.span_id.clone()));
    assert_eq!(on_done.parent_span_id, Some(back.span_id.clone()));
    assert_eq!(archive.parent_span_id, Some(back.span_id.clone()));
    let spans = [&front, &back, &archive, &on_done].map(|s| s.span_id.clone());
    for (i, span) in spans.iter().enumerate() {
        assert!(!spans[..i].contains(span), "span ids repeat: {spans:?}");
    }
    fleet.stop().await;
}

/// A caller outside any trace starts one (the envelope's `trace_id` is the W3C trace id);
/// a raw caller's `traceparent` (a Python client's, say) is continued, and a malformed one
/// starts a new trace.
pub async fn clients_start_traces_and_raw_callers_are_continued(backend: &Backend) {
    let config = ServiceConfig::new().enable_registration(false);
    let handle = ServiceBuilder::new(Back {
        backend: backend.clone(),
    })
    .config(config.clone())
    .start(backend)
    .await
    .unwrap();
    let sink = ServiceBuilder::new(Sink::default())
        .config(config)
        .start(backend)
        .await
        .unwrap();

    let first = BackClient::new(backend).work().await.unwrap();
    let second = BackClient::new(backend).work().await.unwrap();
    assert_ne!(first.trace_id, second.trace_id);
    assert!(first.parent_span_id.is_some(), "{first:?}");
    // A backend that does not propagate: the handler starts its own trace.
    let quiet = backend.clone().with_trace_propagation(false);
    let alone = within_trace(TraceContext::root(), BackClient::new(&quiet).work())
        .await
        .unwrap();
    assert_eq!(alone.parent_span_id, None, "{alone:?}");

    let raw = |traceparent: Option<&str>| {
        let mut headers = Headers::new();
        if let Some(traceparent) = traceparent {
            headers.insert(TRACEPARENT_HEADER, traceparent);
        }
        let body = serde_json::json!({"method": "work", "params": {}, "trace_id": "python-1"});
        Message {
            subject: "rpc.back.work".to_owned(),
            reply: None,
            headers,
            payload: serde_json::to_vec(&body).unwrap().into(),
        }
    };
    let python = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for (traceparent, continued) in [
        (Some(python), true),
        (Some("00-not-a-trace"), false),
        (None, false),
    ] {
        let reply = backend
            .bus()
            .request(raw(traceparent), Duration::from_secs(5))
            .await
            .unwrap();
        let reply: RpcResponse<Seen> = serde_json::from_slice(&reply.payload).unwrap();
        let seen = reply.result.unwrap();
        // The reply's `trace_id` is the request envelope's, as Python expects.
        assert_eq!(reply.trace_id, "python-1");
        if continued {
            assert_eq!(seen.trace_id, "0af7651916cd43dd8448eb211c80319c");
            assert_eq!(seen.parent_span_id.as_deref(), Some("b7ad6b7169203331"));
        } else {
            assert_ne!(seen.trace_id, "0af7651916cd43dd8448eb211c80319c");
            assert_eq!(seen.parent_span_id, None, "{traceparent:?}");
        }
    }
    handle.stop().await.unwrap();
    sink.stop().await.unwrap();
}
