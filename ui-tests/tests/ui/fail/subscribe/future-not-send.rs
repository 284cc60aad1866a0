// Event handler futures must be `Send` (an `Rc` held across an `.await` is not).
#[derive(serde::Deserialize)]
struct OrderCreated {
    id: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[subscribe("orders.created")]
    async fn on_order(&self, event: aegis::Event<OrderCreated>) -> Result<(), aegis::RpcError> {
        let shared = std::rc::Rc::new(event.payload().id);
        tokio::task::yield_now().await;
        let _ = shared;
        Ok(())
    }
}

fn main() {}
