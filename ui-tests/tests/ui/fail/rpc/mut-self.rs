// Handlers run concurrently: `&mut self` is refused.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn ping(&mut self) -> Result<(), aegis::RpcError> {
        Ok(())
    }
}

fn main() {}
