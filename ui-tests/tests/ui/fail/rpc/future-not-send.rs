// Handler futures must be `Send` (an `Rc` held across an `.await` is not).
use std::rc::Rc;

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn local(&self) -> Result<u32, aegis::RpcError> {
        let shared = Rc::new(1);
        tokio::task::yield_now().await;
        Ok(*shared)
    }
}

fn main() {}
