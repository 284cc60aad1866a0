// Event handlers return `Result<(), E>`.
#[derive(serde::Deserialize)]
struct OrderCreated {
    id: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[subscribe("orders.created")]
    async fn on_order(&self, event: aegis::Event<OrderCreated>) {
        let _ = event.payload().id;
    }
}

fn main() {}
