// `client = false`: no generated client, so payloads need only `Deserialize` and replies only
// `Serialize`, and handlers may take the client's method names.
use aegis::{CommandContext, RpcError, Service};

#[derive(serde::Deserialize)]
struct Get {
    id: u32,
}

#[derive(serde::Serialize)]
struct Order {
    id: u32,
}

struct Orders;

#[aegis::service(name = "orders", version = "1.0.0", client = false)]
impl Orders {
    #[rpc]
    async fn get(&self, req: Get) -> Result<Order, RpcError> {
        Ok(Order { id: req.id })
    }

    #[exclusive_rpc]
    async fn new(&self, req: Get) -> Order {
        Order { id: req.id }
    }

    #[command]
    async fn export(&self, _ctx: &CommandContext, req: Get) -> Vec<Order> {
        vec![Order { id: req.id }]
    }
}

fn main() {
    let methods: Vec<&str> = Orders::__methods().iter().map(|m| m.name).collect();
    assert_eq!(methods, ["get", "new"]);
}
