// An event handler takes the event.
#[derive(serde::Deserialize)]
struct OrderCreated {
    id: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[subscribe("orders.created")]
    async fn on_order(&self) -> Result<(), aegis::RpcError> {
        Ok(())
    }
}

fn main() {}
