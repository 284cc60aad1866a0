//! RPC on NATS: the AegisSDK wire with raw clients in both directions, the NATS micro control
//! plane, explicit errors for bad input, and recovery from a server restart.

use std::time::{Duration, Instant};

use aegis::adapters::nats::NatsOptions;
use aegis::domain::envelope::ERROR_CODE_HEADER;
use aegis::{
    Backend, Codec, Error, RequestContext, RpcError, ServiceBuilder, ServiceConfig, ServiceHandle,
};
use aegis_tests::nats_server::NatsServer;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Echo {
    message: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Echoed {
    echo: String,
    instance_id: String,
}

struct EchoService;

#[aegis::service(name = "echo-service", version = "1.0.0")]
impl EchoService {
    #[rpc]
    async fn echo(&self, ctx: &RequestContext, req: Echo) -> Result<Echoed, RpcError> {
        Ok(Echoed {
            echo: req.message,
            instance_id: ctx.instance_id().to_string(),
        })
    }

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

    #[rpc]
    async fn forever(&self) -> Result<(), RpcError> {
        std::future::pending::<()>().await;
        Ok(())
    }

    #[rpc]
    async fn huge(&self) -> Result<String, RpcError> {
        Ok("x".repeat(2 * 1024 * 1024))
    }
}

/// Stands for a Python service: never started, only its generated client is used.
struct PyEcho;

#[aegis::service(name = "py-echo", version = "1.0.0")]
impl PyEcho {
    #[rpc]
    async fn echo(&self, req: Echo) -> Result<Value, RpcError> {
        Ok(json!({ "echo": req.message }))
    }
}

const ONE_SECOND: Duration = Duration::from_secs(1);

async fn backend(server: &NatsServer) -> Backend {
    NatsOptions::new(server.url())
        .retry_initial_connect(false)
        .connect()
        .await
        .expect("connects")
}

async fn raw(server: &NatsServer) -> async_nats::Client {
    async_nats::connect(server.url())
        .await
        .expect("raw client connects")
}

async fn serve(server: &NatsServer, id: &str) -> ServiceHandle {
    let config = ServiceConfig::new()
        .instance_id(aegis::InstanceId::new(id).expect("id"))
        .handler_timeout(Duration::from_millis(300));
    ServiceBuilder::new(EchoService)
        .config(config)
        .start(&backend(server).await)
        .await
        .expect("service starts")
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

#[tokio::test]
async fn python_shaped_requests_get_python_shaped_replies() {
    let server = NatsServer::start();
    let service = serve(&server, "echo-1").await;
    let client = raw(&server).await;
    let request = python_request("echo", json!({"message": "hello"}));
    let encodings = [
        (
            Codec::MsgPack,
            rmp_serde::to_vec(&request).expect("msgpack"),
        ),
        (Codec::Json, serde_json::to_vec(&request).expect("json")),
    ];
    for (codec, payload) in encodings {
        let reply = client
            .request("rpc.echo-service.echo", payload.into())
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
    service.stop().await.expect("stops");
}

#[tokio::test]
async fn our_client_decodes_python_shaped_replies() {
    let server = NatsServer::start();
    let python = raw(&server).await;
    // A responder that answers like the Python SDK (captured reply, msgpack), or with
    // Python's error form (`str(exception)`, no headers) when asked for "fail".
    let mut requests = python
        .queue_subscribe("rpc.py-echo.echo", "rpc.py-echo".into())
        .await
        .expect("subscribe");
    python.flush().await.expect("flush");
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
            python
                .publish(request.reply.expect("reply subject"), bytes.into())
                .await
                .expect("respond");
        }
    });
    let backend = backend(&server).await;
    let client = PyEchoClient::new(&backend);
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

#[tokio::test]
async fn nats_micro_ping_info_and_stats() {
    let server = NatsServer::start();
    let service = serve(&server, "echo-1").await;
    let client = EchoServiceClient::new(&backend(&server).await);
    for _ in 0..3 {
        client
            .echo(Echo {
                message: "x".into(),
            })
            .await
            .expect("echo");
    }
    let _ = client.boom().await;
    let raw = raw(&server).await;

    let ping = raw.request("$SRV.PING", "".into()).await.expect("ping");
    let ping: async_nats::service::PingResponse =
        serde_json::from_slice(&ping.payload).expect("ping schema");
    assert_eq!(ping.kind, "io.nats.micro.v1.ping_response");
    assert_eq!(
        (ping.name.as_str(), ping.id.as_str(), ping.version.as_str()),
        ("echo-service", "echo-1", "1.0.0")
    );

    let info = raw
        .request("$SRV.INFO.echo-service", "".into())
        .await
        .expect("info");
    let info: async_nats::service::Info =
        serde_json::from_slice(&info.payload).expect("info schema");
    assert_eq!(info.kind, "io.nats.micro.v1.info_response");
    assert_eq!(info.id, "echo-1");
    let echo = info
        .endpoints
        .iter()
        .find(|e| e.name == "echo")
        .expect("echo endpoint");
    assert_eq!(echo.subject, "rpc.echo-service.echo");
    assert_eq!(echo.queue_group, "rpc.echo-service");
    assert_eq!(info.endpoints.len(), 5);

    let stats = raw
        .request("$SRV.STATS.echo-service.echo-1", "".into())
        .await
        .expect("stats");
    let stats: async_nats::service::Stats =
        serde_json::from_slice(&stats.payload).expect("stats schema");
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

    // Another name or id does not answer.
    let other = raw.request("$SRV.PING.other-service", "".into()).await;
    assert!(other.is_err(), "a different service name must not answer");
    service.stop().await.expect("stops");
}

/// Runs `call`, asserting it ends within a second.
async fn within_a_second<T>(what: &str, call: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = tokio::time::timeout(ONE_SECOND, call)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 1 s"));
    assert!(started.elapsed() < ONE_SECOND, "{what}");
    out
}

#[tokio::test]
async fn bad_input_gets_an_explicit_error_within_a_second_and_the_service_keeps_serving() {
    let server = NatsServer::start();
    let service = serve(&server, "echo-1").await;
    let raw = raw(&server).await;
    let backend = backend(&server).await;
    let client = EchoServiceClient::new(&backend).with_timeout(Duration::from_secs(10));
    let echo = || {
        client.echo(Echo {
            message: "still here".into(),
        })
    };

    let malformed = within_a_second(
        "malformed",
        raw.request("rpc.echo-service.echo", "{nope".into()),
    )
    .await
    .expect("an error reply");
    assert_eq!(
        malformed
            .headers
            .as_ref()
            .and_then(|h| h.get(ERROR_CODE_HEADER))
            .map(|v| v.as_str()),
        Some("400")
    );
    assert_eq!(echo().await.expect("serving").echo, "still here");

    let unknown = within_a_second(
        "unknown method",
        raw.request("rpc.echo-service.nope", "{}".into()),
    )
    .await;
    assert!(
        matches!(unknown, Err(ref e) if e.kind() == async_nats::RequestErrorKind::NoResponders),
        "{unknown:?}"
    );

    let oversize = Echo {
        message: "x".repeat(2 * 1024 * 1024),
    };
    match within_a_second("oversize request", client.echo(oversize)).await {
        Err(Error::BadRequest { message }) => assert!(message.contains("too large"), "{message}"),
        other => panic!("expected a client-side error, got {other:?}"),
    }
    match within_a_second("oversize reply", client.huge()).await {
        Err(Error::Remote { code: 413, .. }) => {}
        other => panic!("expected a 413 reply, got {other:?}"),
    }
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
    service.stop().await.expect("stops");
}

#[tokio::test]
async fn calls_succeed_again_within_five_seconds_of_a_server_restart() {
    let mut server = NatsServer::start();
    let service = serve(&server, "echo-1").await;
    let client =
        EchoServiceClient::new(&backend(&server).await).with_timeout(Duration::from_millis(500));
    client
        .echo(Echo {
            message: "before".into(),
        })
        .await
        .expect("before restart");

    server.restart();
    let back = Instant::now();
    let deadline = back + Duration::from_secs(5);
    loop {
        match client
            .echo(Echo {
                message: "after".into(),
            })
            .await
        {
            Ok(reply) => {
                assert_eq!(reply.echo, "after");
                break;
            }
            Err(error) => assert!(
                Instant::now() < deadline,
                "still failing 5 s after restart: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await; // retry interval of the poll
    }
    println!(
        "calls succeeded again {:?} after the server was back",
        back.elapsed()
    );
    service.stop().await.expect("stops");
}
