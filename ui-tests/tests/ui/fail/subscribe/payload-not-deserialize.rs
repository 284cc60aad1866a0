// The event's payload must implement `Deserialize`: the error is on the argument's type.
#[derive(serde::Serialize)]
struct OrderCreated {
    id: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[subscribe("orders.created")]
    async fn on_order(&self, event: aegis::Event<OrderCreated>) -> Result<(), aegis::RpcError> {
        let _ = event.payload().id;
        Ok(())
    }
}

fn main() {}
