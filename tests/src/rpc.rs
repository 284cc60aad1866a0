//! RPC scenarios, run on every backend (`tests/rpc_memory.rs`, `tests/rpc_nats.rs`).
//!
//! Every scenario here runs on both backends. Raw wire requests and the Python stand-in
//! responder go through `backend.bus()`: on NATS it sends plain frames without headers, the
//! same as a raw async-nats or nats-py peer, so these scenarios cover raw clients too.
//!
//! NATS only, in `tests/rpc_nats.rs`: payloads over the server's `max_payload` (the memory bus
//! has no size limit) and a nats-server restart.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aegis::domain::envelope::{ERROR_CODE_HEADER, RpcResponse};
use aegis::ports::{Headers, Message};
use aegis::{
    Backend, Codec, Error, InstanceId, LifecycleState, RequestContext, RpcError, ServiceBuilder,
    ServiceConfig, ServiceHandle,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

use crate::events::DEADLINE;

/// The request of `echo`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Echo {
    /// What to echo.
    pub message: String,
}

/// The reply of `echo`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Echoed {
    /// The message.
    pub echo: String,
    /// Who answered.
    pub instance_id: String,
}

/// Echoes, fails, panics, holds or hangs, depending on the method.
#[derive(Debug, Default)]
pub struct EchoService {
    /// Notified when `hold` has started.
    pub entered: Notify,
    /// `hold` returns once this is notified.
    pub release: Notify,
    /// `echo` calls this instance served.
    pub calls: AtomicUsize,
}

/// Echoes messages, and fails on demand.
///
/// Not in the description: only the first paragraph is.
#[aegis::service(name = "echo-service", version = "1.0.0")]
impl EchoService {
    /// Echoes the message, saying who answered.
    #[rpc]
    async fn echo(&self, ctx: &RequestContext, req: Echo) -> Result<Echoed, RpcError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Echoed {
            echo: req.message,
            instance_id: ctx.instance_id().to_string(),
        })
    }

    /// Always a 404.
    #[rpc]
    async fn fail(&self) -> Result<(), RpcError> {
        Err(RpcError::not_found("no such thing"))
    }

    /// Always panics.
    #[rpc]
    async fn boom(&self) -> Result<(), RpcError> {
        panic!("handler exploded")
    }

    /// Errors and panic messages may span lines (`assert_eq!` does); NATS headers may not.
    #[rpc]
    async fn multiline(&self, req: Echo) -> Result<(), RpcError> {
        if req.message == "panic" {
            assert_eq!(req.message, "calm", "the handler's own check");
        }
        Err(RpcError::internal("first line\r\nsecond line"))
    }

    /// Waits until the test releases it.
    #[rpc]
    async fn hold(&self) -> Result<String, RpcError> {
        self.entered.notify_one();
        self.release.notified().await;
        Ok("released".into())
    }

    /// Never answers.
    #[rpc]
    async fn forever(&self) -> Result<(), RpcError> {
        std::future::pending::<()>().await;
        Ok(())
    }

    /// The caller's trace context, as the handler sees it.
    #[rpc]
    async fn trace(&self, ctx: &RequestContext) -> Result<Option<String>, RpcError> {
        Ok(ctx.traceparent().map(str::to_owned))
    }

    /// A reply over NATS' default `max_payload` (1 MiB).
    #[rpc]
    async fn huge(&self) -> Result<String, RpcError> {
        Ok("x".repeat(2 * 1024 * 1024))
    }
}

/// The methods of [`EchoService`], as the control plane lists them.
const ECHO_METHODS: [&str; 8] = [
    "boom",
    "echo",
    "fail",
    "forever",
    "hold",
    "huge",
    "multiline",
    "trace",
];

/// Stands for a Python service: never started, only its generated client is used.
#[derive(Debug)]
pub struct PyEcho;

#[aegis::service(name = "py-echo", version = "1.0.0")]
impl PyEcho {
    /// What the Python service answers.
    #[rpc]
    async fn echo(&self, req: Echo) -> Result<Value, RpcError> {
        Ok(json!({ "echo": req.message }))
    }
}

/// A config with instance id `id`.
pub fn config(id: &str) -> ServiceConfig {
    ServiceConfig::new().instance_id(InstanceId::new(id).unwrap())
}

/// Starts an [`EchoService`] instance.
pub async fn start(backend: &Backend, config: ServiceConfig) -> (Arc<EchoService>, ServiceHandle) {
    let service = Arc::new(EchoService::default());
    let handle = ServiceBuilder::from_arc(Arc::clone(&service))
        .config(config)
        .start(backend)
        .await
        .expect("service starts");
    (service, handle)
}

/// `echo("hello")`.
pub fn hello() -> Echo {
    Echo {
        message: "hello".into(),
    }
}

/// Sends `payload` as is to `subject` on the backend's bus.
pub async fn raw_request(
    backend: &Backend,
    subject: &str,
    payload: impl Into<bytes::Bytes>,
) -> aegis::Result<Message> {
    backend
        .bus()
        .request(Message::new(subject, payload), Duration::from_secs(5))
        .await
}

/// Runs `call`, asserting it ends within a second.
pub async fn within_a_second<T>(what: &str, call: impl Future<Output = T>) -> T {
    const ONE_SECOND: Duration = Duration::from_secs(1);
    let started = Instant::now();
    let out = tokio::time::timeout(ONE_SECOND, call)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 1 s"));
    assert!(started.elapsed() < ONE_SECOND, "{what}");
    out
}

/// The generated client round-trips in both codecs.
pub async fn round_trips_in_msgpack_and_json(backend: &Backend) {
    let (_, handle) = start(backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(backend);
    for codec in [Codec::MsgPack, Codec::Json] {
        let reply = client.with_codec(codec).echo(hello()).await.expect("echo");
        assert_eq!(reply.echo, "hello");
        assert_eq!(reply.instance_id, handle.instance_id().as_str());
    }
    handle.stop().await.expect("stops");
}

fn python_request(method: &str, params: Value) -> Value {
    json!({
        "message_id": "18ad6234-6dc1-41b3-896a-0ad403f71f59",
        "trace_id": "231b81c9-49ef-4256-9aee-8bec5ce89a61",
        "correlation_id": null,
        "timestamp": "2026-11-26T23:47:11.104917+00:00",
        "source": null,
        "target": "echo-service",
        "method": method,
        "params": params,
        "timeout": 5.0
    })
}

fn sorted_keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("map")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

const RESPONSE_KEYS: [&str; 9] = [
    "correlation_id",
    "error",
    "message_id",
    "result",
    "source",
    "success",
    "target",
    "timestamp",
    "trace_id",
];

/// A request as the Python SDK sends it (msgpack, then JSON) gets a reply in the caller's
/// codec with exactly the reference's keys, correlated and in the caller's trace.
pub async fn python_shaped_requests_get_python_shaped_replies(backend: &Backend) {
    let (_, handle) = start(backend, config("echo-1")).await;
    let request = python_request("echo", json!({"message": "hello"}));
    let encodings = [
        (
            Codec::MsgPack,
            rmp_serde::to_vec(&request).expect("msgpack"),
        ),
        (Codec::Json, serde_json::to_vec(&request).expect("json")),
    ];
    for (codec, payload) in encodings {
        let reply = raw_request(backend, "rpc.echo-service.echo", payload)
            .await
            .expect("reply");
        assert_eq!(
            Codec::detect(&reply.payload),
            codec,
            "reply in the caller's codec"
        );
        let value: Value = codec.decode(&reply.payload).expect("decodes");
        assert_eq!(sorted_keys(&value), RESPONSE_KEYS);
        assert_eq!(value["success"], true);
        assert_eq!(value["error"], Value::Null);
        assert_eq!(
            value["correlation_id"],
            "18ad6234-6dc1-41b3-896a-0ad403f71f59"
        );
        assert_eq!(
            value["trace_id"], "231b81c9-49ef-4256-9aee-8bec5ce89a61",
            "the reply stays in the caller's trace"
        );
        assert_eq!(
            value["result"],
            json!({"echo": "hello", "instance_id": "echo-1"})
        );
    }
    handle.stop().await.expect("stops");
}

/// The generated client decodes what a Python responder sends: its captured msgpack reply,
/// and its error form (`str(exception)`, no headers) as a 500.
pub async fn our_client_decodes_python_shaped_replies(backend: &Backend) {
    let bus = Arc::clone(backend.bus());
    let mut requests = bus
        .subscribe("rpc.py-echo.echo", Some("rpc.py-echo"))
        .await
        .expect("subscribe");
    let responder = tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let decoded: Value = Codec::detect(&request.payload)
                .decode(&request.payload)
                .expect("request");
            let message = decoded["params"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let reply = if message == "fail" {
                json!({"message_id": "r2", "trace_id": "t2", "correlation_id": decoded["message_id"],
                       "timestamp": "2026-11-26T23:47:11.105904+00:00", "source": null, "target": null,
                       "success": false, "result": null, "error": "Order 42 not found"})
            } else {
                json!({"message_id": "a355eebc-dee9-481a-ac97-8492f241527b",
                       "trace_id": "a69838c2-e848-46f5-bdf4-39c91717cbe3",
                       "correlation_id": decoded["message_id"],
                       "timestamp": "2026-11-26T23:47:11.105904+00:00", "source": null, "target": null,
                       "success": true, "result": {"echo": message}, "error": null})
            };
            let bytes = rmp_serde::to_vec(&reply).expect("msgpack");
            bus.publish(Message::new(request.reply.expect("reply subject"), bytes))
                .await
                .expect("respond");
        }
    });
    let client = PyEchoClient::new(backend);
    let reply = client
        .echo(Echo {
            message: "hello".into(),
        })
        .await
        .expect("decodes");
    assert_eq!(reply, json!({"echo": "hello"}));
    match client
        .echo(Echo {
            message: "fail".into(),
        })
        .await
    {
        Err(Error::Remote { code: 500, message }) => assert_eq!(message, "Order 42 not found"),
        other => panic!("expected Python's error as a 500, got {other:?}"),
    }
    responder.abort();
}

/// A reply the client cannot decode is `Error::Decode` naming the subject, whether its result
/// does not fit the client's type or it is not an envelope at all; not `BadRequest`.
pub async fn undecodable_replies_are_decode_errors(backend: &Backend) {
    let bus = Arc::clone(backend.bus());
    let mut requests = bus
        .subscribe("rpc.echo-service.echo", Some("rpc.echo-service"))
        .await
        .expect("subscribe");
    let responder = tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let decoded: Value = Codec::detect(&request.payload)
                .decode(&request.payload)
                .expect("request");
            let bytes = match decoded["params"]["message"].as_str().unwrap_or_default() {
                // `Echoed` wants a string `echo` and an `instance_id`.
                "misfit" => rmp_serde::to_vec_named(&json!({
                    "message_id": "r1", "trace_id": "t1", "correlation_id": decoded["message_id"],
                    "timestamp": "2026-11-26T23:47:11.105904+00:00", "source": null,
                    "target": null, "success": true, "result": {"echo": 7}, "error": null
                }))
                .expect("msgpack"),
                "json garbage" => b"<html>502 Bad Gateway</html>".to_vec(),
                // 0xc1 is never used in MessagePack.
                _ => vec![0x81, 0xc1],
            };
            bus.publish(Message::new(request.reply.expect("reply subject"), bytes))
                .await
                .expect("respond");
        }
    });
    let client = EchoServiceClient::new(backend);
    for (case, expected) in [
        ("misfit", "the result does not fit the expected type: "),
        ("json garbage", "not a JSON envelope: "),
        ("msgpack garbage", "not a MessagePack envelope: "),
    ] {
        let outcome = client
            .echo(Echo {
                message: case.into(),
            })
            .await;
        match outcome {
            Err(Error::Decode { subject, message }) => {
                assert_eq!(subject, "rpc.echo-service.echo", "{case}");
                assert!(message.starts_with(expected), "{case}: {message}");
                assert!(!message.contains("bad request"), "{case}: {message}");
            }
            other => panic!("{case}: expected a decode error, got {other:?}"),
        }
    }
    responder.abort();
}

/// Requests that cannot be decoded get a 400 reply (correlated when the id is readable),
/// never a timeout, and run no handler.
pub async fn malformed_requests_get_an_error_reply_not_a_timeout(backend: &Backend) {
    let (service, handle) = start(backend, ServiceConfig::new()).await;
    let cases: [(&str, &[u8]); 4] = [
        ("empty", b""),
        ("not json", b"{nope"),
        (
            "params of the wrong shape",
            br#"{"message_id":"m-2","method":"echo","params":{"message":7}}"#,
        ),
        ("truncated msgpack", &[0x89, 0xaa]),
    ];
    for (what, payload) in cases {
        let reply = raw_request(backend, "rpc.echo-service.echo", payload.to_vec())
            .await
            .unwrap_or_else(|e| panic!("{what}: expected an error reply, got {e}"));
        assert_eq!(reply.headers.get(ERROR_CODE_HEADER), Some("400"), "{what}");
        let response: RpcResponse<Value> = Codec::detect(&reply.payload)
            .decode(&reply.payload)
            .expect("decodes");
        assert!(!response.success, "{what}");
        let error = response.error.expect("error text");
        assert!(error.starts_with("BAD_REQUEST: "), "{what}: {error}");
        if what == "params of the wrong shape" {
            assert_eq!(
                response.correlation_id.as_deref(),
                Some("m-2"),
                "correlated when possible"
            );
        }
    }
    assert_eq!(service.calls.load(Ordering::SeqCst), 0, "no handler ran");
    let client = EchoServiceClient::new(backend);
    assert_eq!(
        client.echo(hello()).await.expect("still serving").echo,
        "hello"
    );
    handle.stop().await.expect("stops");
}

/// A handler's error reaches the caller with its code and message.
pub async fn handler_errors_carry_code_and_message(backend: &Backend) {
    let (_, handle) = start(backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(backend);
    assert_eq!(
        client.fail().await,
        Err(Error::Remote {
            code: 404,
            message: "no such thing".into()
        })
    );
    handle.stop().await.expect("stops");
}

/// A service whose handler returns `anyhow::Result` (feature `anyhow`).
#[derive(Debug)]
pub struct Ledger;

#[aegis::service(name = "ledger", version = "1.0.0")]
impl Ledger {
    /// Always fails: a cause wrapped in a context.
    #[rpc]
    async fn balance(&self) -> anyhow::Result<u64> {
        use anyhow::Context as _;
        Err(anyhow::anyhow!("connection refused")).context("reading account 7")
    }
}

/// An `anyhow::Error` reaches the caller as a 500 whose message has the context and the cause.
pub async fn anyhow_errors_are_500s_with_their_whole_chain(backend: &Backend) {
    let handle = ServiceBuilder::new(Ledger)
        .start(backend)
        .await
        .expect("service starts");
    match LedgerClient::new(backend).balance().await {
        Err(Error::Remote { code: 500, message }) => {
            assert_eq!(message, "reading account 7: connection refused");
        }
        other => panic!("expected a 500, got {other:?}"),
    }
    handle.stop().await.expect("stops");
}

/// A panic becomes a 500 with the panic message; the service keeps serving.
pub async fn a_panicking_handler_gets_an_error_reply_and_the_service_keeps_serving(
    backend: &Backend,
) {
    let (_, handle) = start(backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(backend);
    for _ in 0..3 {
        match client.boom().await {
            Err(Error::Remote { code: 500, message }) => {
                assert!(message.contains("handler exploded"), "{message}");
            }
            other => panic!("expected a 500, got {other:?}"),
        }
        assert_eq!(
            client.echo(hello()).await.expect("still serving").echo,
            "hello"
        );
    }
    assert_eq!(handle.state(), LifecycleState::Started);
    handle.stop().await.expect("stops");
}

/// A handler past `handler_timeout` is answered with a 504 by the service.
pub async fn handlers_past_their_deadline_get_a_timeout_reply(backend: &Backend) {
    let config = ServiceConfig::new().handler_timeout(Duration::from_millis(100));
    let (_, handle) = start(backend, config).await;
    let client = EchoServiceClient::new(backend).with_timeout(Duration::from_secs(5));
    match client.forever().await {
        Err(Error::Remote { code: 504, message }) => {
            assert!(message.contains("timed out"), "{message}");
        }
        other => panic!("expected a 504 from the service, got {other:?}"),
    }
    handle.stop().await.expect("stops");
}

/// The client's own timeout ends a call nobody answers, naming subject and duration.
pub async fn the_callers_timeout_bounds_the_call(backend: &Backend) {
    let (_, handle) = start(backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(backend).with_timeout(Duration::from_millis(50));
    match client.forever().await {
        Err(Error::Timeout { subject, after }) => {
            assert_eq!(subject, "rpc.echo-service.forever");
            assert_eq!(after, Duration::from_millis(50));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    handle.stop().await.expect("stops");
}

/// The `traceparent` header of a request reaches the handler's context.
pub async fn traceparent_reaches_the_handler(backend: &Backend) {
    let (_, handle) = start(backend, ServiceConfig::new()).await;
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut headers = Headers::new();
    headers.insert("traceparent", parent);
    let message = Message {
        subject: "rpc.echo-service.trace".into(),
        reply: None,
        headers,
        payload: br#"{"method":"trace"}"#.to_vec().into(),
    };
    let reply = backend
        .bus()
        .request(message, Duration::from_secs(5))
        .await
        .expect("reply");
    let response: RpcResponse<Option<String>> =
        Codec::Json.decode(&reply.payload).expect("decodes");
    assert_eq!(response.result, Some(Some(parent.to_owned())));
    handle.stop().await.expect("stops");
}

/// After `stop`, calls find no responders; stopping again is a no-op.
pub async fn a_stopped_service_no_longer_answers(backend: &Backend) {
    let (_, handle) = start(backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(backend);
    client.echo(hello()).await.expect("serving");
    handle.stop().await.expect("stops");
    assert_eq!(handle.state(), LifecycleState::Stopped);
    match client.echo(hello()).await {
        Err(Error::NoResponders { subject }) => assert_eq!(subject, "rpc.echo-service.echo"),
        other => panic!("expected no responders, got {other:?}"),
    }
    handle.stop().await.expect("idempotent");
}

/// While STOPPING, intake closes but the in-flight call runs to its end; then STOPPED.
pub async fn graceful_stop_finishes_in_flight_calls_and_refuses_new_ones(backend: &Backend) {
    let (service, handle) = start(backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(backend);

    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { client.hold().await }
    });
    service.entered.notified().await;
    assert_eq!(handle.in_flight(), 1);

    let mut states = handle.state_changes();
    let stopping = tokio::spawn({
        let handle = handle.clone();
        async move { handle.stop().await }
    });
    states
        .wait_for(|s| *s == LifecycleState::Stopping)
        .await
        .expect("reaches STOPPING");
    // Intake closes shortly after STOPPING; a call that got in before it still gets served.
    let deadline = Instant::now() + DEADLINE;
    loop {
        match client.echo(hello()).await {
            Err(Error::NoResponders { .. }) => break,
            Ok(_) => assert!(
                Instant::now() < deadline,
                "intake still open while stopping"
            ),
            Err(other) => panic!("expected no responders, got {other}"),
        }
    }
    assert!(
        !stopping.is_finished(),
        "stop waits for the in-flight handler"
    );
    assert_eq!(handle.state(), LifecycleState::Stopping);

    service.release.notify_one();
    assert_eq!(
        in_flight
            .await
            .expect("joins")
            .expect("in-flight call succeeds"),
        "released"
    );
    stopping.await.expect("joins").expect("stops");
    assert_eq!(handle.state(), LifecycleState::Stopped);
}

/// `stop` gives up on a handler that never ends after `drain_timeout`.
pub async fn drain_is_bounded(backend: &Backend) {
    let config = ServiceConfig::new().drain_timeout(Duration::from_millis(100));
    let (service, handle) = start(backend, config).await;
    let client = EchoServiceClient::new(backend).with_timeout(Duration::from_secs(30));
    let stuck = tokio::spawn(async move { client.hold().await });
    service.entered.notified().await;
    // `hold` is never released.
    tokio::time::timeout(Duration::from_secs(10), handle.stop())
        .await
        .expect("stop is bounded by the drain timeout")
        .expect("stops");
    assert_eq!(handle.state(), LifecycleState::Stopped);
    assert_eq!(handle.in_flight(), 0);
    stuck.abort();
}

/// `on_start` runs before STARTED and `on_stop` at stop; a failing `on_start` fails the start
/// with nothing subscribed, a failing `on_stop` ends in FAILED.
pub async fn lifecycle_hooks_run_in_order_and_failures_are_reported(backend: &Backend) {
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let start_tx = events_tx.clone();
    let handle = ServiceBuilder::new(EchoService::default())
        .on_start(move |_| async move {
            start_tx.send("on_start").expect("send");
            Ok(())
        })
        .on_stop(move |_| async move {
            events_tx.send("on_stop").expect("send");
            Ok(())
        })
        .start(backend)
        .await
        .expect("starts");
    assert_eq!(events.recv().await, Some("on_start"));
    assert_eq!(handle.state(), LifecycleState::Started);
    handle.stop().await.expect("stops");
    assert_eq!(events.recv().await, Some("on_stop"));

    let failed_start = ServiceBuilder::new(EchoService::default())
        .on_start(|_| async { Err(Error::Closed("no database".into())) })
        .start(backend)
        .await;
    assert!(matches!(failed_start, Err(Error::Closed(ref m)) if m == "no database"));
    let client = EchoServiceClient::new(backend);
    assert!(
        matches!(client.echo(hello()).await, Err(Error::NoResponders { .. })),
        "nothing was subscribed"
    );

    let (tx, rx) = oneshot::channel::<()>();
    let handle = ServiceBuilder::new(EchoService::default())
        .on_stop(move |_| async move {
            drop(tx);
            Err(Error::Closed("flush failed".into()))
        })
        .start(backend)
        .await
        .expect("starts");
    assert!(
        handle.stop().await.is_err(),
        "a failing on_stop is reported"
    );
    assert_eq!(handle.state(), LifecycleState::Failed);
    assert!(rx.await.is_err(), "the hook ran");
}

/// Two instances share the calls: each served once, both served some.
pub async fn queue_group_spreads_calls_over_instances(backend: &Backend) {
    let (a, handle_a) = start(backend, ServiceConfig::new()).await;
    let (b, handle_b) = start(backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(backend);
    for _ in 0..100 {
        client.echo(hello()).await.expect("echo");
    }
    let (a, b) = (
        a.calls.load(Ordering::SeqCst),
        b.calls.load(Ordering::SeqCst),
    );
    assert_eq!(a + b, 100, "each call served exactly once");
    assert!(a > 0 && b > 0, "both instances served ({a}/{b})");
    handle_a.stop().await.expect("stops");
    handle_b.stop().await.expect("stops");
}

async fn control<T: serde::de::DeserializeOwned>(backend: &Backend, subject: &str) -> T {
    let reply = raw_request(backend, subject, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("{subject}: {e}"));
    serde_json::from_slice(&reply.payload).unwrap_or_else(|e| panic!("{subject} schema: {e}"))
}

/// A single-active service, described by its `description` argument.
#[derive(Debug)]
pub struct Counter;

/// Ignored: the `description` argument wins.
#[aegis::service(
    name = "counter",
    version = "2.0.0",
    description = "Counts, on the leader only."
)]
impl Counter {
    /// One more.
    #[exclusive_rpc]
    async fn bump(&self) -> u64 {
        1
    }
}

/// `$SRV.INFO` of a single-active service names its group, and the kind of each endpoint.
pub async fn srv_info_describes_a_single_active_service(backend: &Backend) {
    let config = ServiceConfig::new()
        .enable_registration(false)
        .group_id("blue");
    let handle = ServiceBuilder::new(Counter)
        .config(config)
        .start(backend)
        .await
        .expect("service starts");
    let info: async_nats::service::Info = control(backend, "$SRV.INFO.counter").await;
    assert_eq!(info.description, "Counts, on the leader only.");
    assert_eq!(
        info.metadata.get("aegis.group").map(String::as_str),
        Some("blue")
    );
    let [bump] = info.endpoints.as_slice() else {
        panic!("one endpoint: {:?}", info.endpoints);
    };
    let kind = bump.metadata.get("aegis.kind").map(String::as_str);
    assert_eq!(kind, Some("exclusive_rpc"));
    handle.stop().await.expect("stops");
}

/// The NATS micro control plane: `$SRV.PING`, `$SRV.INFO.{name}` and
/// `$SRV.STATS.{name}.{id}` in the schemas async-nats reads, with per-endpoint counts.
pub async fn nats_micro_ping_info_and_stats(backend: &Backend) {
    let (_, handle) = start(
        backend,
        config("echo-1").handler_timeout(Duration::from_millis(300)),
    )
    .await;
    let client = EchoServiceClient::new(backend);
    for _ in 0..3 {
        client
            .echo(Echo {
                message: "x".into(),
            })
            .await
            .expect("echo");
    }
    let _ = client.boom().await;

    let ping: async_nats::service::PingResponse = control(backend, "$SRV.PING").await;
    assert_eq!(ping.kind, "io.nats.micro.v1.ping_response");
    assert_eq!(
        (ping.name.as_str(), ping.id.as_str(), ping.version.as_str()),
        ("echo-service", "echo-1", "1.0.0")
    );

    let info: async_nats::service::Info = control(backend, "$SRV.INFO.echo-service").await;
    assert_eq!(info.kind, "io.nats.micro.v1.info_response");
    assert_eq!(info.id, "echo-1");
    assert_eq!(info.description, "Echoes messages, and fails on demand.");
    let version = info.metadata.get("aegis.version").map(String::as_str);
    assert_eq!(version, Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(
        info.metadata.get("aegis.group"),
        None,
        "no exclusive methods"
    );
    assert_eq!(ping.metadata, info.metadata);
    let echo = info
        .endpoints
        .iter()
        .find(|e| e.name == "echo")
        .expect("echo endpoint");
    assert_eq!(echo.subject, "rpc.echo-service.echo");
    assert_eq!(echo.queue_group, "rpc.echo-service");
    let kind = echo.metadata.get("aegis.kind");
    assert_eq!(kind.map(String::as_str), Some("rpc"));
    let mut endpoints: Vec<&str> = info.endpoints.iter().map(|e| e.name.as_str()).collect();
    endpoints.sort_unstable();
    assert_eq!(endpoints, ECHO_METHODS, "one endpoint per method");

    let stats: async_nats::service::Stats =
        control(backend, "$SRV.STATS.echo-service.echo-1").await;
    assert_eq!(stats.kind, "io.nats.micro.v1.stats_response");
    let echo = stats
        .endpoints
        .iter()
        .find(|e| e.name == "echo")
        .expect("echo stats");
    assert_eq!((echo.requests, echo.errors), (3, 0));
    assert!(echo.processing_time > Duration::ZERO);
    let boom = stats
        .endpoints
        .iter()
        .find(|e| e.name == "boom")
        .expect("boom stats");
    assert_eq!((boom.requests, boom.errors), (1, 1));
    let last = boom.last_error.as_ref().expect("last error");
    assert_eq!(last.code, 500);
    assert!(last.status.contains("handler exploded"), "{}", last.status);

    let other = raw_request(backend, "$SRV.PING.other-service", Vec::new()).await;
    assert!(
        matches!(other, Err(Error::NoResponders { .. })),
        "a different service name must not answer: {other:?}"
    );
    handle.stop().await.expect("stops");
}

/// Malformed requests, unknown methods, panics, multi-line errors and panics, and handlers
/// past their deadline are each answered explicitly within a second; the service keeps
/// serving throughout.
pub async fn bad_input_gets_an_explicit_error_within_a_second_and_the_service_keeps_serving(
    backend: &Backend,
) {
    let (_, handle) = start(
        backend,
        config("echo-1").handler_timeout(Duration::from_millis(300)),
    )
    .await;
    let client = EchoServiceClient::new(backend).with_timeout(Duration::from_secs(10));
    let echo = || {
        client.echo(Echo {
            message: "still here".into(),
        })
    };

    let malformed = within_a_second(
        "malformed",
        raw_request(backend, "rpc.echo-service.echo", "{nope"),
    )
    .await
    .expect("an error reply");
    assert_eq!(malformed.headers.get(ERROR_CODE_HEADER), Some("400"));
    assert_eq!(echo().await.expect("serving").echo, "still here");

    let unknown = within_a_second(
        "unknown method",
        raw_request(backend, "rpc.echo-service.nope", "{}"),
    )
    .await;
    assert!(
        matches!(unknown, Err(Error::NoResponders { .. })),
        "{unknown:?}"
    );

    match within_a_second("panic", client.boom()).await {
        Err(Error::Remote { code: 500, message }) => assert!(message.contains("handler exploded")),
        other => panic!("expected a 500 reply, got {other:?}"),
    }
    let error = Echo {
        message: "error".into(),
    };
    match within_a_second("multi-line error", client.multiline(error)).await {
        Err(Error::Remote { code: 500, message }) => {
            assert_eq!(message, "first line\r\nsecond line");
        }
        other => panic!("expected a 500 reply, got {other:?}"),
    }
    let panic = Echo {
        message: "panic".into(),
    };
    match within_a_second("multi-line panic", client.multiline(panic)).await {
        Err(Error::Remote { code: 500, message }) => {
            assert!(message.contains("the handler's own check"), "{message}");
            assert!(message.contains("left: \"panic\""), "{message}");
        }
        other => panic!("expected a 500 reply, got {other:?}"),
    }
    match within_a_second("handler timeout", client.forever()).await {
        Err(Error::Remote { code: 504, .. }) => {}
        other => panic!("expected a 504 reply, got {other:?}"),
    }
    assert_eq!(echo().await.expect("still serving").echo, "still here");
    handle.stop().await.expect("stops");
}

/// Service B of the deadline scenarios: lingers, noting the deadline it was given.
#[derive(Debug, Default)]
pub struct Lingerer {
    /// How long `linger` takes.
    pub linger: Duration,
    /// `ctx.deadline()` of the last `linger`.
    pub deadline: std::sync::Mutex<Option<Instant>>,
}

#[aegis::service(name = "lingerer", version = "1.0.0")]
impl Lingerer {
    /// Notes its deadline, then takes `linger`.
    #[rpc]
    async fn linger(&self, ctx: &RequestContext) -> Result<(), RpcError> {
        *self.deadline.lock().unwrap() = Some(ctx.deadline());
        tokio::time::sleep(self.linger).await;
        Ok(())
    }
}

/// Service A of the deadline scenarios: calls B with B's client (5 s timeout) and notes how
/// that went.
#[derive(Debug)]
pub struct Relay {
    /// B's client.
    pub lingerer: LingererClient,
    /// `ctx.deadline()` of the last `forward`.
    pub deadline: std::sync::Mutex<Option<Instant>>,
    /// The nested call's outcome and when it came.
    pub nested: std::sync::Mutex<Option<(aegis::Result<()>, Instant)>>,
    /// Notified once the nested call has ended.
    pub done: Notify,
}

#[aegis::service(name = "relay", version = "1.0.0")]
impl Relay {
    /// Calls `lingerer.linger`.
    #[rpc]
    async fn forward(&self, ctx: &RequestContext) -> Result<(), RpcError> {
        *self.deadline.lock().unwrap() = Some(ctx.deadline());
        let outcome = self.lingerer.linger().await;
        let failed = outcome.is_err();
        *self.nested.lock().unwrap() = Some((outcome, Instant::now()));
        self.done.notify_one();
        if failed {
            return Err(RpcError::internal("the nested call failed"));
        }
        Ok(())
    }
}

/// Starts A and B, B taking `linger`.
async fn start_relay(
    backend: &Backend,
    linger: Duration,
) -> (Arc<Relay>, Arc<Lingerer>, [ServiceHandle; 2]) {
    let lingerer = Arc::new(Lingerer {
        linger,
        ..Lingerer::default()
    });
    let relay = Arc::new(Relay {
        lingerer: LingererClient::new(backend).with_timeout(Duration::from_secs(5)),
        deadline: std::sync::Mutex::default(),
        nested: std::sync::Mutex::default(),
        done: Notify::new(),
    });
    let b = ServiceBuilder::from_arc(Arc::clone(&lingerer))
        .start(backend)
        .await
        .expect("B starts");
    let a = ServiceBuilder::from_arc(Arc::clone(&relay))
        .start(backend)
        .await
        .expect("A starts");
    (relay, lingerer, [a, b])
}

/// Slack for timings on a loaded machine.
const MARGIN: Duration = Duration::from_millis(250);

/// A handler's call to another service ends when the handler's caller gives up, not at the
/// callee client's own (longer) timeout; the callee's deadline is no later than the handler's.
pub async fn nested_calls_end_by_the_callers_deadline(backend: &Backend) {
    let (relay, lingerer, handles) = start_relay(backend, Duration::from_secs(3)).await;
    let timeout = Duration::from_millis(300);
    let client = RelayClient::new(backend).with_timeout(timeout);
    let started = Instant::now();
    match client.forward().await {
        Err(Error::Timeout { subject, after }) => {
            assert_eq!(subject, "rpc.relay.forward");
            assert_eq!(after, timeout);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        started.elapsed() < timeout + MARGIN,
        "{:?}",
        started.elapsed()
    );
    // Without inheritance the nested call would wait 5 s, and be dropped unfinished when
    // A's handler is cancelled a grace after its caller's timeout.
    tokio::time::timeout(Duration::from_secs(2), relay.done.notified())
        .await
        .expect("the nested call ended before A's handler was cancelled");
    let (outcome, ended) = relay.nested.lock().unwrap().take().unwrap();
    match outcome {
        Err(Error::Timeout { subject, .. }) => assert_eq!(subject, "rpc.lingerer.linger"),
        other => panic!("expected the nested call to time out, got {other:?}"),
    }
    assert!(ended < started + timeout + MARGIN, "{:?}", ended - started);
    let a_deadline = relay.deadline.lock().unwrap().unwrap();
    let b_deadline = lingerer.deadline.lock().unwrap().unwrap();
    // B's deadline is counted from when the request reached it: allow for transit.
    assert!(
        b_deadline <= a_deadline + Duration::from_millis(100),
        "B's deadline is {:?} after A's",
        b_deadline - a_deadline
    );
    for handle in handles {
        handle.stop().await.expect("stops");
    }
}

/// A nested request's envelope `timeout` is the time that remains, less than the outer one.
pub async fn nested_requests_carry_the_time_remaining(backend: &Backend) {
    let (_, _, handles) = start_relay(backend, Duration::ZERO).await;
    let bus = backend.bus();
    let mut outer = bus.subscribe("rpc.relay.forward", None).await.unwrap();
    let mut nested = bus.subscribe("rpc.lingerer.linger", None).await.unwrap();
    let client = RelayClient::new(backend).with_timeout(Duration::from_secs(2));
    client.forward().await.expect("forwarded");
    let timeout_of = |message: Message| {
        let request: Value = Codec::detect(&message.payload)
            .decode(&message.payload)
            .unwrap();
        request["timeout"].as_f64().expect("a timeout")
    };
    let within = Duration::from_secs(5);
    let outer = timeout_of(
        tokio::time::timeout(within, outer.next())
            .await
            .unwrap()
            .unwrap(),
    );
    let nested = timeout_of(
        tokio::time::timeout(within, nested.next())
            .await
            .unwrap()
            .unwrap(),
    );
    assert!(outer <= 2.0, "{outer}");
    assert!(nested < outer, "nested {nested} s, outer {outer} s");
    for handle in handles {
        handle.stop().await.expect("stops");
    }
}

/// Retries, however many the policy allows, end by the call's deadline.
pub async fn retries_end_by_the_calls_deadline(backend: &Backend) {
    let policy = aegis::RetryPolicy {
        max_attempts: 10_000,
        initial_delay_ms: 20,
        max_delay_ms: 20,
        backoff_multiplier: 1.0,
        jitter_factor: 0.0,
    };
    let timeout = Duration::from_millis(300);
    // Nobody serves `echo-service` here: every attempt finds no responders.
    let client = EchoServiceClient::new(backend)
        .with_timeout(timeout)
        .with_retry(policy);
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(5), client.echo(hello()))
        .await
        .expect("the retries stopped");
    let elapsed = started.elapsed();
    assert!(
        matches!(
            outcome,
            Err(Error::NoResponders { .. } | Error::Timeout { .. })
        ),
        "{outcome:?}"
    );
    assert!(elapsed < timeout + MARGIN, "{elapsed:?}");
    // It kept retrying until the next delay no longer fitted.
    assert!(
        elapsed >= timeout - Duration::from_millis(50),
        "{elapsed:?}"
    );
}
