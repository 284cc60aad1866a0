//! Handlers that return a plain value answer with it: rpc methods and commands, on the
//! in-memory backend.

use std::time::Duration;

use aegis::{Backend, CommandContext, ServiceBuilder};

struct Plain;

#[aegis::service(name = "plain", version = "1.0.0")]
impl Plain {
    #[rpc]
    async fn ping(&self) -> String {
        String::from("pong")
    }

    #[rpc]
    async fn double(&self, n: u32) -> u32 {
        n * 2
    }

    #[command]
    async fn count(&self, ctx: &CommandContext, n: u64) -> Vec<u64> {
        ctx.progress(100.0, "counted").await;
        (1..=n).collect()
    }
}

#[tokio::test]
async fn plain_return_values_are_the_replies() {
    let backend = Backend::in_memory();
    let handle = ServiceBuilder::new(Plain)
        .start(&backend)
        .await
        .expect("service starts");
    let client = PlainClient::new(&backend);

    assert_eq!(client.ping().await.expect("ping"), "pong");
    assert_eq!(client.double(21).await.expect("double"), 42);
    let command = client.count(3).await.expect("count is sent");
    let counted = tokio::time::timeout(Duration::from_secs(5), command.result())
        .await
        .expect("an outcome in time")
        .expect("count succeeds");
    assert_eq!(counted, [1, 2, 3]);

    handle.stop().await.expect("stops");
}
