// An event handler has no caller to return a value to: `Result<(), E>`, the error is on the return type.
#[derive(serde::Deserialize)]
struct OrderCreated {
    id: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[subscribe("orders.created")]
    async fn on_order(&self, event: aegis::Event<OrderCreated>) -> Result<u32, aegis::RpcError> {
        Ok(event.payload().id)
    }
}

fn main() {}
