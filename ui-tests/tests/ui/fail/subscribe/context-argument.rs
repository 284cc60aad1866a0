// Event handlers take no context: the event carries its metadata.
#[derive(serde::Deserialize)]
struct OrderCreated {
    id: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[subscribe("orders.created")]
    async fn on_order(&self, ctx: &aegis::RequestContext, event: aegis::Event<OrderCreated>) -> Result<(), aegis::RpcError> {
        let _ = (ctx.trace_id(), event.payload().id);
        Ok(())
    }
}

fn main() {}
