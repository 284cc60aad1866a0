//! Commands across languages (see `aegis_tests::python_commands`), in memory and on NATS.
#![allow(clippy::unwrap_used)]

use aegis::Backend;
use aegis_tests::nats_server::NatsServer;
use aegis_tests::python_commands;

#[tokio::test]
async fn python_callers_hear_rust_workers_in_memory() {
    python_commands::python_callers_hear_rust_workers(&Backend::in_memory()).await;
}

#[tokio::test]
async fn rust_callers_hear_python_workers_in_memory() {
    python_commands::rust_callers_hear_python_workers(&Backend::in_memory()).await;
}

/// `COMMANDS` created as the Python SDK does (no rollups): the reports are never stored.
#[tokio::test]
async fn python_callers_hear_rust_workers_on_nats() {
    let server = NatsServer::start();
    python_commands::python_callers_hear_rust_workers(&server.backend().await).await;
}

/// `COMMANDS` created by an operator with rollups allowed: the latest report of each
/// subject is stored, and purged after the outcome.
#[tokio::test]
async fn python_callers_hear_rust_workers_on_nats_with_rollups() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    async_nats::jetstream::new(client)
        .create_stream(async_nats::jetstream::stream::Config {
            name: "COMMANDS".into(),
            subjects: vec!["commands.>".into()],
            retention: async_nats::jetstream::stream::RetentionPolicy::WorkQueue,
            allow_rollup: true,
            ..Default::default()
        })
        .await
        .unwrap();
    python_commands::python_callers_hear_rust_workers(&server.backend().await).await;
}

#[tokio::test]
async fn rust_callers_hear_python_workers_on_nats() {
    let server = NatsServer::start();
    python_commands::rust_callers_hear_python_workers(&server.backend().await).await;
}
