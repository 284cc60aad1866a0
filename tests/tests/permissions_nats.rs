//! A server whose users may publish and subscribe only what `docs/connecting.md` lists: a
//! service and its clients work, and a client refused a subject gets a permission error at
//! once, not a timeout.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aegis::adapters::nats::NatsOptions;
use aegis::discovery::{BasicServiceDiscovery, SelectionStrategy};
use aegis::election::ElectionState;
use aegis::events::EventPublisher;
use aegis::{Error, ServiceBuilder};
use aegis_examples::echo::{EchoRequest, EchoService, EchoServiceClient};
use aegis_examples::orders::{OrderProcessor, OrderProcessorClient, ProcessOrder};
use aegis_examples::reports::{BuildReport, ReportBuilder, ReportBuilderClient};
use aegis_examples::shop::{Notifier, OrderPlaced, order_placed};
use aegis_tests::nats_server::NatsServer;

/// The permissions table of `docs/connecting.md`, for the service `echo-service`.
const CONFIG: &str = r#"
authorization {
  users = [
    {
      user: service, password: service-secret
      permissions: {
        publish: { allow: ["$JS.API.>", "$KV.service_registry.>"] }
        subscribe: { allow: ["rpc.echo-service.>", "$SRV.>", "_INBOX.>"] }
        allow_responses: true
      }
    }
    {
      user: no-registry, password: no-registry-secret
      permissions: {
        publish: { allow: ["$JS.API.>"] }
        subscribe: { allow: ["rpc.echo-service.>", "$SRV.>", "_INBOX.>"] }
        allow_responses: true
      }
    }
    {
      user: client, password: client-secret
      permissions: {
        publish: {
          allow: ["rpc.echo-service.>", "$JS.API.STREAM.INFO.KV_service_registry",
                  "$JS.API.DIRECT.GET.KV_service_registry"]
        }
        subscribe: { allow: ["_INBOX.>"] }
      }
    }
    {
      user: worker, password: worker-secret
      permissions: {
        publish: {
          allow: ["$JS.API.>", "$JS.ACK.>", "$KV.service_registry.>", "deadletter.>",
                  "_INBOX.aegis.>", "$KV.election_order-processor.>",
                  "commands.progress.>", "commands.callback.>"]
        }
        subscribe: {
          allow: ["rpc.notifier.>", "rpc.report-builder.>", "aegis.cancel.report-builder.*",
                  "rpc.order-processor.>", "$SRV.>", "_INBOX.>"]
        }
        allow_responses: true
      }
    }
    {
      user: caller, password: caller-secret
      permissions: {
        publish: {
          allow: ["events.orders.>", "commands.report-builder.>", "rpc.order-processor.>",
                  "$JS.API.INFO",
                  "$JS.API.STREAM.INFO.EVENTS", "$JS.API.STREAM.INFO.COMMANDS"]
        }
        subscribe: { allow: ["_INBOX.>", "commands.progress.>", "commands.callback.>"] }
        allow_responses: true
      }
    }
    {
      user: status-only, password: status-secret
      permissions: {
        publish: { allow: ["rpc.echo-service.status", "$JS.API.STREAM.INFO.KV_service_registry"] }
        subscribe: { allow: ["_INBOX.>"] }
      }
    }
  ]
}
"#;

fn server() -> NatsServer {
    NatsServer::start_with_config(CONFIG)
}

async fn connect(server: &NatsServer, user: &str, password: &str) -> aegis::Backend {
    NatsOptions::new(server.url())
        .user_password(user, password)
        .retry_initial_connect(false)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{user} connects: {e}"))
}

#[tokio::test]
async fn a_service_and_its_clients_work_with_only_the_listed_permissions() {
    let server = server();
    let service_backend = connect(&server, "service", "service-secret").await;
    let service = ServiceBuilder::new(EchoService)
        .start(&service_backend)
        .await
        .expect("the service starts with its permissions");
    let client = EchoServiceClient::new(&connect(&server, "client", "client-secret").await);
    for i in 0..20 {
        let message = format!("hi {i}");
        let reply = client
            .echo(EchoRequest {
                message: message.clone(),
            })
            .await
            .expect("echo answers");
        assert_eq!(reply.echo, message);
    }
    assert_eq!(client.status().await.expect("status").status, "healthy");
    // Through discovery: the registry read with direct gets, the call on the instance's subject.
    let client_backend = connect(&server, "client", "client-secret").await;
    let discovery = Arc::new(BasicServiceDiscovery::new(
        &client_backend,
        Duration::from_secs(30),
    ));
    let routed = EchoServiceClient::new(&client_backend)
        .with_discovery(discovery, SelectionStrategy::RoundRobin);
    let reply = routed
        .echo(EchoRequest {
            message: "routed".into(),
        })
        .await
        .expect("echo answers through discovery");
    assert_eq!(reply.instance_id, service.instance_id().to_string());
    service.stop().await.expect("stops gracefully");
    assert_nothing_refused(&server);
}

/// Events, commands and a single-active service: the services create and consume the
/// streams and buckets, callers only publish.
#[tokio::test]
async fn events_commands_and_elections_work_with_only_the_listed_permissions() {
    let server = server();
    let worker = connect(&server, "worker", "worker-secret").await;
    let notifier = Arc::new(Notifier::default());
    let subscriber = ServiceBuilder::from_arc(Arc::clone(&notifier))
        .start(&worker)
        .await
        .expect("the subscriber starts");
    let builder = ServiceBuilder::new(ReportBuilder)
        .start(&worker)
        .await
        .expect("the command worker starts");

    let processor = ServiceBuilder::new(OrderProcessor::default())
        .start(&worker)
        .await
        .expect("the single-active service starts");
    let mut leadership = processor.leadership_changes().expect("it has an election");
    tokio::time::timeout(
        Duration::from_secs(30),
        leadership.wait_for(|l| l.state == ElectionState::Active),
    )
    .await
    .expect("it becomes the leader")
    .expect("the election runs");

    let caller = connect(&server, "caller", "caller-secret").await;
    let processed = OrderProcessorClient::new(&caller)
        .process_order(ProcessOrder {
            order_id: "o-1".into(),
        })
        .await
        .expect("the leader processes the order");
    assert!(processed.epoch > 0, "{processed:?}");
    let publisher = EventPublisher::new(&caller).expect("publisher");
    for order_id in 1..=5 {
        let order = OrderPlaced {
            order_id,
            total_cents: 100 * order_id,
        };
        publisher
            .publish(&order_placed(), &order)
            .await
            .expect("the event is stored");
    }
    let report = ReportBuilderClient::new(&caller)
        .build(BuildReport {
            name: "q4".into(),
            sections: 3,
            section_millis: 1,
        })
        .await
        .expect("the command is queued")
        .result()
        .await
        .expect("the command's outcome arrives");
    assert_eq!(report.sections, 3);
    let deadline = Instant::now() + Duration::from_secs(30);
    while notifier.handled.load(Ordering::Relaxed) < 5 {
        assert!(Instant::now() < deadline, "events not all handled");
        tokio::time::sleep(Duration::from_millis(20)).await; // polling a counter
    }
    subscriber.stop().await.expect("stops");
    builder.stop().await.expect("stops");
    processor.stop().await.expect("stops");
    assert_nothing_refused(&server);
}

fn assert_nothing_refused(server: &NatsServer) {
    let log = server.log();
    let refused: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("Violation"))
        .collect();
    assert!(refused.is_empty(), "refused: {refused:#?}");
}

#[tokio::test]
async fn a_client_refused_a_subject_gets_a_permission_error_at_once() {
    let server = server();
    let service_backend = connect(&server, "service", "service-secret").await;
    let service = ServiceBuilder::new(EchoService)
        .start(&service_backend)
        .await
        .expect("the service starts");
    let client = EchoServiceClient::new(&connect(&server, "status-only", "status-secret").await);
    assert_eq!(
        client.status().await.expect("status is allowed").status,
        "healthy"
    );
    let started = Instant::now();
    let refused = client
        .echo(EchoRequest {
            message: "hi".into(),
        })
        .await
        .expect_err("echo is not allowed");
    let elapsed = started.elapsed();
    match &refused {
        Error::PermissionDenied { operation, subject } => {
            assert_eq!(
                (*operation, subject.as_str()),
                ("publish to", "rpc.echo-service.echo")
            );
        }
        other => panic!("expected a permission error, got {other:?}"),
    }
    assert!(
        elapsed < Duration::from_secs(2),
        "refused after {elapsed:?}, not at once"
    );
    assert!(
        refused.to_string().contains("permission denied"),
        "{refused}"
    );
    let log = server.log();
    assert!(
        log.contains("Violation"),
        "the server logs what it refuses (the other tests rely on it):\n{log}"
    );
    service.stop().await.expect("stops");
}

/// A service whose user may not write the registry fails to start, at once and saying why.
#[tokio::test]
async fn a_service_refused_the_registry_fails_to_start_saying_why() {
    let server = server();
    let backend = connect(&server, "no-registry", "no-registry-secret").await;
    let started = Instant::now();
    let error = ServiceBuilder::new(EchoService)
        .start(&backend)
        .await
        .expect_err("the registry entry cannot be written");
    assert!(
        matches!(&error, Error::PermissionDenied { operation: "publish to", subject }
            if subject.starts_with("$KV.service_registry.service-instances.echo-service.")),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
