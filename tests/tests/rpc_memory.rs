//! RPC behaviour on the in-memory backend: codecs, error replies, panics, timeouts,
//! lifecycle and graceful stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aegis::domain::envelope::{ERROR_CODE_HEADER, RpcResponse};
use aegis::ports::{Headers, Message};
use aegis::{
    Backend, Codec, Error, LifecycleState, RequestContext, RpcError, ServiceBuilder, ServiceConfig,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Echo {
    message: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Echoed {
    echo: String,
    instance_id: String,
}

/// A service whose `hold` handler waits until the test releases it.
#[derive(Default)]
struct EchoService {
    entered: Notify,
    release: Notify,
    calls: AtomicUsize,
}

#[aegis::service(name = "echo-service", version = "1.0.0")]
impl EchoService {
    #[rpc]
    async fn echo(&self, ctx: &RequestContext, req: Echo) -> Result<Echoed, RpcError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Echoed {
            echo: req.message,
            instance_id: ctx.instance_id().to_string(),
        })
    }

    #[rpc]
    async fn fail(&self) -> Result<(), RpcError> {
        Err(RpcError::not_found("no such thing"))
    }

    #[rpc]
    async fn boom(&self) -> Result<(), RpcError> {
        panic!("handler exploded")
    }

    #[rpc]
    async fn hold(&self) -> Result<String, RpcError> {
        self.entered.notify_one();
        self.release.notified().await;
        Ok("released".into())
    }

    #[rpc]
    async fn forever(&self) -> Result<(), RpcError> {
        std::future::pending::<()>().await;
        Ok(())
    }

    #[rpc]
    async fn trace(&self, ctx: &RequestContext) -> Result<Option<String>, RpcError> {
        Ok(ctx.traceparent().map(str::to_owned))
    }
}

async fn start(
    backend: &Backend,
    config: ServiceConfig,
) -> (Arc<EchoService>, aegis::ServiceHandle) {
    let service = Arc::new(EchoService::default());
    let handle = ServiceBuilder::from_arc(Arc::clone(&service))
        .config(config)
        .start(backend)
        .await
        .expect("service starts");
    (service, handle)
}

fn hello() -> Echo {
    Echo {
        message: "hello".into(),
    }
}

#[tokio::test]
async fn round_trips_in_msgpack_and_json() {
    let backend = Backend::in_memory();
    let (_, handle) = start(&backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(&backend);
    for codec in [Codec::MsgPack, Codec::Json] {
        let reply = client.with_codec(codec).echo(hello()).await.expect("echo");
        assert_eq!(reply.echo, "hello");
        assert_eq!(reply.instance_id, handle.instance_id().as_str());
    }
    handle.stop().await.expect("stops");
}

#[tokio::test]
async fn raw_python_shaped_requests_get_replies_in_the_callers_codec() {
    let backend = Backend::in_memory();
    let (_, handle) = start(&backend, ServiceConfig::new()).await;
    let request = serde_json::json!({
        "message_id": "m-1", "trace_id": "t-1", "correlation_id": null,
        "timestamp": "2026-11-26T23:47:11.111216+00:00", "source": null,
        "target": "echo-service", "method": "echo", "params": {"message": "hi"}, "timeout": 5.0
    });
    let encodings = [
        (Codec::Json, serde_json::to_vec(&request).expect("json")),
        (
            Codec::MsgPack,
            rmp_serde::to_vec(&request).expect("msgpack"),
        ),
    ];
    for (codec, payload) in encodings {
        let reply = backend
            .bus()
            .request(
                Message::new("rpc.echo-service.echo", payload),
                Duration::from_secs(5),
            )
            .await
            .expect("reply");
        assert_eq!(
            Codec::detect(&reply.payload),
            codec,
            "reply in the caller's codec"
        );
        let value: Value = codec.decode(&reply.payload).expect("decodes");
        let mut keys: Vec<&str> = value
            .as_object()
            .expect("map")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "correlation_id",
                "error",
                "message_id",
                "result",
                "source",
                "success",
                "target",
                "timestamp",
                "trace_id"
            ]
        );
        assert_eq!(value["correlation_id"], "m-1");
        assert_eq!(value["success"], true);
        assert_eq!(value["result"]["echo"], "hi");
        assert_eq!(value["error"], Value::Null);
    }
    handle.stop().await.expect("stops");
}

#[tokio::test]
async fn malformed_requests_get_an_error_reply_not_a_timeout() {
    let backend = Backend::in_memory();
    let (service, handle) = start(&backend, ServiceConfig::new()).await;
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
        let reply = backend
            .bus()
            .request(
                Message::new("rpc.echo-service.echo", payload.to_vec()),
                Duration::from_secs(5),
            )
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
    // The client maps the same reply to `Error::BadRequest`.
    let client = EchoServiceClient::new(&backend);
    assert_eq!(
        client.echo(hello()).await.expect("still serving").echo,
        "hello"
    );
    handle.stop().await.expect("stops");
}

#[tokio::test]
async fn handler_errors_carry_code_and_message() {
    let backend = Backend::in_memory();
    let (_, handle) = start(&backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(&backend);
    assert_eq!(
        client.fail().await,
        Err(Error::Remote {
            code: 404,
            message: "no such thing".into()
        })
    );
    handle.stop().await.expect("stops");
}

#[tokio::test]
async fn a_panicking_handler_gets_an_error_reply_and_the_service_keeps_serving() {
    let backend = Backend::in_memory();
    let (_, handle) = start(&backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(&backend);
    for _ in 0..3 {
        match client.boom().await {
            Err(Error::Remote { code: 500, message }) => {
                assert!(message.contains("handler exploded"), "{message}")
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

#[tokio::test]
async fn handlers_past_their_deadline_get_a_timeout_reply() {
    let backend = Backend::in_memory();
    let config = ServiceConfig::new().handler_timeout(Duration::from_millis(100));
    let (_, handle) = start(&backend, config).await;
    let client = EchoServiceClient::new(&backend).with_timeout(Duration::from_secs(5));
    match client.forever().await {
        Err(Error::Remote { code: 504, message }) => {
            assert!(message.contains("timed out"), "{message}")
        }
        other => panic!("expected a 504 from the service, got {other:?}"),
    }
    handle.stop().await.expect("stops");
}

#[tokio::test]
async fn the_callers_timeout_bounds_the_call() {
    let backend = Backend::in_memory();
    let (_, handle) = start(&backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(&backend).with_timeout(Duration::from_millis(50));
    match client.forever().await {
        Err(Error::Timeout { subject, after }) => {
            assert_eq!(subject, "rpc.echo-service.forever");
            assert_eq!(after, Duration::from_millis(50));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    handle.stop().await.expect("stops");
}

#[tokio::test]
async fn traceparent_reaches_the_handler() {
    let backend = Backend::in_memory();
    let (_, handle) = start(&backend, ServiceConfig::new()).await;
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

#[tokio::test]
async fn a_stopped_service_no_longer_answers() {
    let backend = Backend::in_memory();
    let (_, handle) = start(&backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(&backend);
    client.echo(hello()).await.expect("serving");
    handle.stop().await.expect("stops");
    assert_eq!(handle.state(), LifecycleState::Stopped);
    match client.echo(hello()).await {
        Err(Error::NoResponders { subject }) => assert_eq!(subject, "rpc.echo-service.echo"),
        other => panic!("expected no responders, got {other:?}"),
    }
    // Stopping again is a no-op.
    handle.stop().await.expect("idempotent");
}

#[tokio::test]
async fn graceful_stop_finishes_in_flight_calls_and_refuses_new_ones() {
    let backend = Backend::in_memory();
    let (service, handle) = start(&backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(&backend);

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
    // Intake is closed while the held call drains.
    let refused = client.echo(hello()).await;
    assert!(
        matches!(refused, Err(Error::NoResponders { .. })),
        "{refused:?}"
    );
    assert!(
        !stopping.is_finished(),
        "stop waits for the in-flight handler"
    );

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

#[tokio::test]
async fn drain_is_bounded() {
    let backend = Backend::in_memory();
    let config = ServiceConfig::new().drain_timeout(Duration::from_millis(100));
    let (service, handle) = start(&backend, config).await;
    let client = EchoServiceClient::new(&backend).with_timeout(Duration::from_secs(30));
    let stuck = tokio::spawn(async move { client.hold().await });
    service.entered.notified().await;
    // `hold` is never released: stop gives up on it after the drain timeout.
    tokio::time::timeout(Duration::from_secs(10), handle.stop())
        .await
        .expect("stop is bounded by the drain timeout")
        .expect("stops");
    assert_eq!(handle.state(), LifecycleState::Stopped);
    assert_eq!(handle.in_flight(), 0);
    stuck.abort();
}

#[tokio::test]
async fn lifecycle_hooks_run_in_order_and_failures_are_reported() {
    let backend = Backend::in_memory();
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
        .start(&backend)
        .await
        .expect("starts");
    assert_eq!(events.recv().await, Some("on_start"));
    assert_eq!(handle.state(), LifecycleState::Started);
    handle.stop().await.expect("stops");
    assert_eq!(events.recv().await, Some("on_stop"));

    let failed_start = ServiceBuilder::new(EchoService::default())
        .on_start(|_| async { Err(Error::Closed("no database".into())) })
        .start(&backend)
        .await;
    assert!(matches!(failed_start, Err(Error::Closed(ref m)) if m == "no database"));
    // Nothing was subscribed: nobody answers.
    let client = EchoServiceClient::new(&backend);
    assert!(matches!(
        client.echo(hello()).await,
        Err(Error::NoResponders { .. })
    ));

    let (tx, rx) = oneshot::channel::<()>();
    let handle = ServiceBuilder::new(EchoService::default())
        .on_stop(move |_| async move {
            drop(tx);
            Err(Error::Closed("flush failed".into()))
        })
        .start(&backend)
        .await
        .expect("starts");
    assert!(
        handle.stop().await.is_err(),
        "a failing on_stop is reported"
    );
    assert_eq!(handle.state(), LifecycleState::Failed);
    assert!(rx.await.is_err(), "the hook ran");
}

#[tokio::test]
async fn queue_group_spreads_calls_over_instances() {
    let backend = Backend::in_memory();
    let (a, handle_a) = start(&backend, ServiceConfig::new()).await;
    let (b, handle_b) = start(&backend, ServiceConfig::new()).await;
    let client = EchoServiceClient::new(&backend);
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
