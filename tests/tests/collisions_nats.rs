//! A command's work queue shared with consumers aegis did not make, against a real
//! nats-server: the Python AegisSDK's push consumer of the same name, or another consumer
//! whose filter overlaps. The service refuses to start, says what to do, and leaves nothing
//! behind.

use std::time::Duration;

use aegis::adapters::nats::{NatsOptions, NatsStreams};
use aegis::ports::{ConsumerConfig, StartAt, Streams};
use aegis::registry::KvServiceRegistry;
use aegis::{Backend, CommandContext, Error, RpcError, ServiceBuilder};
use aegis_tests::nats_server::NatsServer;
use async_nats::jetstream::{self, consumer, stream};
use futures::TryStreamExt;

/// Far below the 30 s a start keeps binding while the server cannot answer: a refusal is
/// not retried.
const AT_ONCE: Duration = Duration::from_secs(10);

/// Serves one RPC method and one command.
#[derive(Debug)]
pub struct Mixed;

#[aegis::service(name = "mixed", version = "1.0.0")]
impl Mixed {
    /// Answers.
    #[rpc]
    async fn ping(&self) -> Result<(), RpcError> {
        Ok(())
    }

    /// Says which instance ran it.
    #[command]
    async fn work(&self, ctx: &CommandContext) -> Result<String, RpcError> {
        Ok(ctx.instance_id().to_string())
    }
}

/// The server, a plain JetStream client on it, and `COMMANDS` as the Python SDK creates it
/// (work queue, 10,000 messages, discard old).
async fn python_commands_stream() -> (NatsServer, jetstream::Context) {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.expect("connects");
    let js = jetstream::new(client);
    js.create_stream(stream::Config {
        name: "COMMANDS".into(),
        subjects: vec!["commands.>".into()],
        retention: stream::RetentionPolicy::WorkQueue,
        max_messages: 10_000,
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    })
    .await
    .expect("COMMANDS created");
    (server, js)
}

/// Starts `mixed`, which must be refused at once; returns the error.
async fn refused(backend: &Backend) -> Error {
    tokio::time::timeout(AT_ONCE, ServiceBuilder::new(Mixed).start(backend))
        .await
        .expect("refused at once, not retried")
        .expect_err("the start is refused")
}

/// Neither the RPC subscription nor the registry entry of the refused instance remains.
async fn nothing_left(backend: &Backend) {
    // On the refused instance's connection, after its unsubscribe.
    let ping = MixedClient::new(backend).ping().await;
    assert!(matches!(ping, Err(Error::NoResponders { .. })), "{ping:?}");
    let listed = KvServiceRegistry::new(backend)
        .list_instances("mixed")
        .await
        .expect("registry readable");
    assert!(listed.is_empty(), "still registered: {listed:?}");
}

async fn consumer_names(js: &jetstream::Context) -> Vec<String> {
    let mut names: Vec<String> = js
        .get_stream_no_info("COMMANDS")
        .await
        .expect("stream")
        .consumer_names()
        .try_collect()
        .await
        .expect("names");
    names.sort();
    names
}

#[tokio::test]
async fn a_python_push_consumer_of_the_command_refuses_the_start() {
    let (server, js) = python_commands_stream().await;
    // What nats-py's `subscribe` creates for the Python worker of `mixed.work`.
    js.create_consumer_on_stream(
        consumer::push::Config {
            durable_name: Some("mixed-work".into()),
            deliver_subject: "_INBOX.xkL3VqUX1VdQfJ0CX1bYmX".into(),
            filter_subject: "commands.mixed.work".into(),
            ack_policy: consumer::AckPolicy::Explicit,
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        },
        "COMMANDS",
    )
    .await
    .expect("push consumer");
    let backend = server.backend().await;

    let error = refused(&backend).await;

    assert!(
        matches!(
            &error,
            Error::Invalid {
                what: "consumer",
                ..
            }
        ),
        "{error:?}"
    );
    let text = error.to_string();
    for part in [
        "`mixed-work` on stream `COMMANDS` is a push consumer",
        "Python AegisSDK",
        "cannot share a command's work queue",
        "stop the Python workers and delete the consumer",
        "`nats consumer rm COMMANDS mixed-work`",
        "move the command to a new name",
    ] {
        assert!(text.contains(part), "{part:?} not in: {text}");
    }
    nothing_left(&backend).await;
    // The Python workers' consumer is left as it was.
    let info = js
        .get_stream_no_info("COMMANDS")
        .await
        .expect("stream")
        .consumer_info("mixed-work")
        .await
        .expect("still there");
    assert_eq!(
        info.config.deliver_subject.as_deref(),
        Some("_INBOX.xkL3VqUX1VdQfJ0CX1bYmX")
    );
}

#[tokio::test]
async fn an_overlapping_consumer_on_the_work_queue_refuses_the_start() {
    let (server, js) = python_commands_stream().await;
    js.create_consumer_on_stream(
        consumer::pull::Config {
            durable_name: Some("audit".into()),
            filter_subject: "commands.mixed.>".into(),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        },
        "COMMANDS",
    )
    .await
    .expect("other consumer");
    let backend = server.backend().await;

    let error = refused(&backend).await;

    assert!(
        matches!(
            &error,
            Error::Invalid {
                what: "consumer",
                ..
            }
        ),
        "{error:?}"
    );
    let text = error.to_string();
    for part in [
        "`mixed-work` on stream `COMMANDS` cannot be created",
        "each message goes to one consumer only",
        "`audit` (filter `commands.mixed.>`) already takes messages of `commands.mixed.work`",
        "`nats consumer rm COMMANDS audit`",
        "narrow its filter",
    ] {
        assert!(text.contains(part), "{part:?} not in: {text}");
    }
    nothing_left(&backend).await;
    assert_eq!(consumer_names(&js).await, ["audit"]);
}

/// The control: without a foreign consumer, Rust instances start and share the consumer.
#[tokio::test]
async fn rust_instances_share_the_command_consumer() {
    let (server, js) = python_commands_stream().await;
    let backend = server.backend().await;
    let first = ServiceBuilder::new(Mixed)
        .start(&backend)
        .await
        .expect("first starts");
    let second = ServiceBuilder::new(Mixed)
        .start(&server.backend().await)
        .await
        .expect("second starts");

    let client = MixedClient::new(&backend);
    for _ in 0..4 {
        let handle = client.work().await.expect("sent");
        let by = tokio::time::timeout(AT_ONCE, handle.result())
            .await
            .expect("an outcome in time")
            .expect("done");
        assert!(by.starts_with("mixed-"), "{by}");
    }
    assert_eq!(consumer_names(&js).await, ["mixed-work"]);
    let info = js
        .get_stream_no_info("COMMANDS")
        .await
        .expect("stream")
        .consumer_info("mixed-work")
        .await
        .expect("consumer");
    assert_eq!(info.config.deliver_subject, None, "a pull consumer");
    first.stop().await.expect("stops");
    second.stop().await.expect("stops");
}

/// Any other stream: the push consumer is refused alike, without the command advice.
#[tokio::test]
async fn a_push_consumer_on_another_stream_is_refused() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.expect("connects");
    let js = jetstream::new(client);
    js.create_stream(stream::Config {
        name: "EVENTS".into(),
        subjects: vec!["events.>".into()],
        ..Default::default()
    })
    .await
    .expect("EVENTS created");
    js.create_consumer_on_stream(
        consumer::push::Config {
            durable_name: Some("orders".into()),
            deliver_subject: "_INBOX.python".into(),
            deliver_group: Some("orders".into()),
            filter_subject: "events.order.created".into(),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        },
        "EVENTS",
    )
    .await
    .expect("push consumer");
    let (bus, _kv) = NatsOptions::new(server.url())
        .retry_initial_connect(false)
        .connect_parts()
        .await
        .expect("connects");
    let config = ConsumerConfig {
        fetch_ahead: 1,
        name: "orders".into(),
        filter_subject: "events.order.created".into(),
        start: StartAt::New,
        ack_wait: Duration::from_secs(30),
        max_ack_pending: 1,
        inactive_threshold: None,
    };

    let error = NatsStreams::new(&bus)
        .consume("EVENTS", config)
        .await
        .expect_err("refused");

    let text = error.to_string();
    for part in [
        "`orders` on stream `EVENTS` is a push consumer",
        "aegis binds pull consumers only",
        "`nats consumer rm EVENTS orders`",
    ] {
        assert!(text.contains(part), "{part:?} not in: {text}");
    }
    assert!(!text.contains("command"), "{text}");
}
