// An event handler has no caller to return a value to: nothing, `()` or `Result<(), E>`.
#[derive(serde::Deserialize)]
struct OrderCreated {
    id: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[subscribe("orders.created")]
    async fn on_order(&self, event: aegis::Event<OrderCreated>) -> u32 {
        event.payload().id
    }
}

fn main() {}
