// `#[subscribe]` only means something inside a `#[service]` impl.
#[derive(serde::Deserialize)]
struct OrderCreated {
    id: u32,
}

struct S;

impl S {
    #[aegis::subscribe("orders.created")]
    async fn on_order(&self, event: aegis::Event<OrderCreated>) -> Result<(), aegis::RpcError> {
        let _ = event.payload().id;
        Ok(())
    }
}

fn main() {}
