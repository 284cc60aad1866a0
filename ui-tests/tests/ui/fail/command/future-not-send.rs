// Command handler futures must be `Send` (an `Rc` held across an `.await` is not).
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[command]
    async fn export(&self) -> Result<u32, aegis::RpcError> {
        let shared = std::rc::Rc::new(1);
        tokio::task::yield_now().await;
        Ok(*shared)
    }
}

fn main() {}
