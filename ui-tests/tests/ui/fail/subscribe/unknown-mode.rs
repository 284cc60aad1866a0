// Modes are `compete` and `broadcast`: the error is on the mode.
#[derive(serde::Deserialize)]
struct OrderCreated {
    id: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[subscribe("orders.created", mode = "fanout")]
    async fn on_order(&self, event: aegis::Event<OrderCreated>) -> Result<(), aegis::RpcError> {
        let _ = event.payload().id;
        Ok(())
    }
}

fn main() {}
