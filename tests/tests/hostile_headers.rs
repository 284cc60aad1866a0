//! A client with publish rights sends requests whose header block is not `NATS/1.0`-shaped.
//! async-nats 0.51.0 failed the whole connection on one (the service's connection dropped and
//! calls alongside failed); the patched copy (`patches/README.md`) hands it over marked, and
//! the service answers it 400 and goes on serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aegis::ServiceBuilder;
use aegis_examples::echo::{EchoRequest, EchoService, EchoServiceClient};
use aegis_tests::nats_server::NatsServer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Header blocks a parser may refuse: no version line, a wrong one, a bad status, a line
/// without `:`, a bad name, not UTF-8.
const HOSTILE: [&[u8]; 6] = [
    b"GARBAGE\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n",
    b"NATS/1.0 abc\r\n\r\n",
    b"NATS/1.0\r\nno colon here\r\n\r\n",
    b"NATS/1.0\r\nbad name\x01: x\r\n\r\n",
    b"NATS/1.0\r\nName: \xff\xfe\r\n\r\n",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_header_blocks_get_400_and_the_service_keeps_its_connection() {
    let server = NatsServer::start();
    let backend = server.backend().await;
    let service = ServiceBuilder::new(EchoService)
        .start(&backend)
        .await
        .expect("echo starts");
    let client = EchoServiceClient::new(&server.backend().await);
    // Valid calls all along, from their own connection.
    let running = Arc::new(AtomicBool::new(true));
    let load = tokio::spawn({
        let (client, running) = (client.clone(), Arc::clone(&running));
        async move {
            let (mut ok, mut failed) = (0, Vec::new());
            while running.load(Ordering::Relaxed) {
                let request = EchoRequest {
                    message: "hi".into(),
                };
                match client.echo(request).await {
                    Ok(_) => ok += 1,
                    Err(error) => failed.push(error.to_string()),
                }
            }
            (ok, failed)
        }
    });

    let mut raw = RawClient::connect(server.port()).await;
    for (n, header) in HOSTILE.iter().cycle().take(120).enumerate() {
        let reply = raw
            .request("rpc.echo-service.echo", header, br#"{"message":"x"}"#)
            .await;
        assert!(
            reply.contains("Nats-Service-Error-Code: 400"),
            "hostile request {n} ({:?}): {reply}",
            String::from_utf8_lossy(header)
        );
    }
    running.store(false, Ordering::Relaxed);
    let (ok, failed) = load.await.expect("load");
    assert!(
        failed.is_empty(),
        "valid calls failed alongside: {failed:?}"
    );
    assert!(ok > 0, "no valid call ran alongside");
    service.stop().await.expect("stops");
}

/// A client speaking the NATS protocol by hand, to send what no client library would.
struct RawClient {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl RawClient {
    async fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("tcp");
        let (read, writer) = stream.into_split();
        let mut client = RawClient {
            reader: BufReader::new(read),
            writer,
        };
        client.line().await; // INFO
        client
            .send(b"CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\nSUB raw.inbox 1\r\nPING\r\n")
            .await;
        assert_eq!(client.line().await.trim(), "PONG");
        client
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(5), self.reader.read_line(&mut line))
            .await
            .expect("the server answers")
            .expect("read");
        line
    }

    /// Sends an HPUB with `header` as its header block; returns the reply's header block.
    async fn request(&mut self, subject: &str, header: &[u8], payload: &[u8]) -> String {
        let mut frame = format!(
            "HPUB {subject} raw.inbox {} {}\r\n",
            header.len(),
            header.len() + payload.len()
        )
        .into_bytes();
        frame.extend_from_slice(header);
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\n");
        self.send(&frame).await;
        loop {
            let line = self.line().await;
            if line.starts_with("PING") {
                self.send(b"PONG\r\n").await;
                continue;
            }
            if line.starts_with("INFO") {
                continue; // the server's updates
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.first().copied() {
                Some("HMSG") => {
                    let header_len: usize = fields[fields.len() - 2].parse().expect("hdr len");
                    let total: usize = fields[fields.len() - 1].parse().expect("total len");
                    let mut body = vec![0; total + 2];
                    tokio::io::AsyncReadExt::read_exact(&mut self.reader, &mut body)
                        .await
                        .expect("body");
                    return String::from_utf8_lossy(&body[..header_len]).into_owned();
                }
                Some("MSG") => panic!("a reply without headers: {line}"),
                _ => panic!("unexpected: {line}"),
            }
        }
    }
}
