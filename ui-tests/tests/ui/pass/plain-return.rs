// Handlers that cannot fail return a plain value (or nothing, for events); the client's
// methods return `aegis::Result<T>` either way. Only a return type whose last path segment
// is `Result` is fallible: `SearchResult` is a plain value, `fallible::Result<T>` an alias.
use aegis::commands::CommandHandle;
use aegis::{CommandContext, Event, RequestContext};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct SearchResult {
    hits: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
struct OrderCreated {
    id: u32,
}

mod fallible {
    pub type Result<T> = std::result::Result<T, aegis::RpcError>;
}

struct Plain;

#[aegis::service(name = "plain", version = "1.0.0")]
impl Plain {
    #[rpc]
    async fn ping(&self) -> String {
        String::from("pong")
    }

    #[rpc]
    async fn search(&self, ctx: &RequestContext, query: String) -> SearchResult {
        let _ = (ctx.trace_id(), query);
        SearchResult { hits: vec![1] }
    }

    #[rpc]
    async fn nothing(&self) {}

    #[rpc]
    async fn me(&self) -> Self {
        Plain
    }

    #[rpc]
    async fn aliased(&self, n: u32) -> fallible::Result<u32> {
        Ok(n)
    }

    #[exclusive_rpc]
    async fn reserve(&self, id: u32) -> bool {
        id > 0
    }

    #[command]
    async fn recount(&self, ctx: &CommandContext) -> u64 {
        ctx.attempt()
    }

    #[command]
    async fn touch(&self) -> () {}

    #[subscribe("orders.created")]
    async fn on_order(&self, event: Event<OrderCreated>) {
        let _ = event.payload().id;
    }

    #[subscribe("orders.deleted")]
    async fn on_delete(&self, _event: Event<OrderCreated>) -> () {}
}

impl Serialize for Plain {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <()>::deserialize(deserializer).map(|()| Plain)
    }
}

async fn use_client(client: &PlainClient) -> aegis::Result<()> {
    let _: String = client.ping().await?;
    let _: SearchResult = client.search(String::from("q")).await?;
    let (): () = client.nothing().await?;
    let _: Plain = client.me().await?;
    let _: u32 = client.aliased(1).await?;
    let _: bool = client.reserve(1).await?;
    let _: CommandHandle<u64> = client.recount().await?;
    let _: CommandHandle<()> = client.touch().await?;
    Ok(())
}

fn main() {
    let _ = use_client;
}
