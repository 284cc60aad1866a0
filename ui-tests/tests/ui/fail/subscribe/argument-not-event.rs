// The argument is `Event<T>`, not the payload itself: the error is on its type.
#[derive(serde::Deserialize)]
struct OrderCreated {
    id: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[subscribe("orders.created")]
    async fn on_order(&self, order: OrderCreated) -> Result<(), aegis::RpcError> {
        let _ = order.id;
        Ok(())
    }
}

fn main() {}
