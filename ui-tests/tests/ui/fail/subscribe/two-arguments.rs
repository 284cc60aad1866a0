// An event handler takes exactly one argument: the error is on the second.
#[derive(serde::Deserialize)]
struct OrderCreated {
    id: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[subscribe("orders.created")]
    async fn on_order(&self, event: aegis::Event<OrderCreated>, retries: u32) -> Result<(), aegis::RpcError> {
        let _ = (event.payload().id, retries);
        Ok(())
    }
}

fn main() {}
