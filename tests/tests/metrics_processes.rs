//! `echo_service --metrics-addr`: a real process serving Prometheus metrics, scraped over
//! plain HTTP after calls that succeed and fail.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use aegis::adapters::nats::NatsOptions;
use aegis::ports::Message;
use aegis_examples::echo::{EchoRequest, EchoServiceClient};
use aegis_tests::nats_server::NatsServer;
use aegis_tests::process::Running;

/// A port nothing listens on now (the exporter binds the address itself and does not say
/// which port it got, so it cannot be given port 0).
fn free_local_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds a free port");
    let addr = listener.local_addr().expect("bound address");
    addr.to_string()
}

/// The body of `GET /metrics` at `addr`.
fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connects to the metrics endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("sends the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("reads the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The lines of `body` for the metric `name` (its samples, not its `# TYPE` line), sorted.
fn samples<'a>(body: &'a str, name: &str) -> Vec<&'a str> {
    let mut lines: Vec<&str> = body
        .lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .collect();
    lines.sort_unstable();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_service_serves_labelled_counts_and_a_latency_histogram() {
    let server = NatsServer::start();
    let url = server.url();
    let metrics_addr = free_local_address();
    let (_service, ready) = Running::start(
        "echo_service",
        &url,
        &["--metrics-addr", &metrics_addr, "--token", "s3cret"],
    );
    assert!(ready.contains("ready"), "{ready}");

    let backend = NatsOptions::new(&url).connect().await.expect("connects");
    let anonymous = EchoServiceClient::new(&backend);
    let client = anonymous.with_header("authorization", "Bearer s3cret");
    let hello = || EchoRequest {
        message: "hello".into(),
    };
    for _ in 0..3 {
        client.echo(hello()).await.expect("echo");
    }
    client.status().await.expect("status");
    for _ in 0..2 {
        let error = anonymous.echo(hello()).await.expect_err("no token");
        assert!(error.to_string().contains("401"), "{error}");
    }
    let mut malformed = Message::new("rpc.echo-service.echo", b"{nope".to_vec());
    malformed.headers.insert("authorization", "Bearer s3cret");
    let reply = backend
        .bus()
        .request(malformed, Duration::from_secs(5))
        .await
        .expect("an error reply");
    assert_eq!(reply.headers.get("Nats-Service-Error-Code"), Some("400"));

    // Each request is counted before its reply leaves: every count is in by now.
    let body = tokio::task::spawn_blocking(move || scrape(&metrics_addr))
        .await
        .expect("scraped");
    assert_eq!(
        samples(&body, "aegis_rpc_server_requests_total"),
        [
            r#"aegis_rpc_server_requests_total{service="echo-service",method="echo",code="200"} 3"#,
            r#"aegis_rpc_server_requests_total{service="echo-service",method="echo",code="400"} 1"#,
            r#"aegis_rpc_server_requests_total{service="echo-service",method="echo",code="401"} 2"#,
            r#"aegis_rpc_server_requests_total{service="echo-service",method="status",code="200"} 1"#,
        ],
        "{body}"
    );
    assert!(
        body.contains("# TYPE aegis_rpc_server_duration_seconds histogram"),
        "{body}"
    );
    let echo_latency = samples(&body, "aegis_rpc_server_duration_seconds_bucket");
    assert!(
        echo_latency.contains(
            &r#"aegis_rpc_server_duration_seconds_bucket{service="echo-service",method="echo",le="+Inf"} 6"#
        ),
        "{body}"
    );
    assert!(
        echo_latency
            .iter()
            .any(|line| line.contains(r#"method="echo",le="0.005""#)),
        "{body}"
    );
    assert_eq!(
        samples(&body, "aegis_rpc_server_duration_seconds_count"),
        [
            r#"aegis_rpc_server_duration_seconds_count{service="echo-service",method="echo"} 6"#,
            r#"aegis_rpc_server_duration_seconds_count{service="echo-service",method="status"} 1"#,
        ],
        "{body}"
    );
    assert_eq!(
        samples(&body, "aegis_rpc_server_in_flight"),
        [r#"aegis_rpc_server_in_flight{service="echo-service"} 0"#],
        "{body}"
    );
}
