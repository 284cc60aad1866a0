//! `ServiceHandle::run_until_shutdown`: the server's lame-duck notice starts the graceful
//! stop. (SIGTERM and SIGINT are covered by the process tests: `echo_service` runs this way.)

use std::time::Duration;

use aegis::adapters::nats::NatsOptions;
use aegis::{Backend, LifecycleState, Result, ServiceBuilder, ServiceHandle, Shutdown};
use aegis_examples::echo::{EchoRequest, EchoService, EchoServiceClient};
use aegis_tests::nats_server::NatsServer;
use tokio::task::JoinHandle;

/// The echo service on `server`, and a task running it until shutdown.
async fn run_echo(server: &NatsServer) -> (Backend, ServiceHandle, JoinHandle<Result<Shutdown>>) {
    let backend = NatsOptions::new(server.url())
        .connect()
        .await
        .expect("connects");
    let service = ServiceBuilder::new(EchoService)
        .start(&backend)
        .await
        .expect("starts");
    let running = tokio::spawn({
        let service = service.clone();
        async move { service.run_until_shutdown().await }
    });
    (backend, service, running)
}

#[tokio::test]
async fn a_lame_duck_notice_stops_the_service_gracefully() {
    // SIGUSR2: the server tells its clients at once, and starts evicting them after its
    // grace period (10 s), which leaves the graceful stop time to finish.
    let server = NatsServer::start();
    let (backend, service, running) = run_echo(&server).await;
    let reply = EchoServiceClient::new(&backend)
        .echo(EchoRequest {
            message: "before".into(),
        })
        .await
        .expect("answers while running");
    assert_eq!(reply.echo, "before");

    let pid = server.pid().expect("the server runs").to_string();
    let status = std::process::Command::new("kill")
        .args(["-USR2", &pid])
        .status()
        .expect("signal the server");
    assert!(status.success(), "kill -USR2 {pid}: {status}");

    let reason = tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("the notice arrives and the stop completes")
        .expect("the task ran")
        .expect("stops gracefully");
    assert_eq!(reason, Shutdown::LameDuck);
    assert_eq!(service.state(), LifecycleState::Stopped);
}

#[tokio::test]
async fn a_service_stopped_otherwise_ends_the_wait() {
    let server = NatsServer::start();
    let (_backend, service, running) = run_echo(&server).await;
    service.stop().await.expect("stops");
    let reason = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the wait ends")
        .expect("the task ran")
        .expect("no error");
    assert_eq!(reason, Shutdown::Stopped);
}
