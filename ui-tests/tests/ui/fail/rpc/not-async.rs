// Handlers are `async fn`.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    fn ping(&self) -> Result<(), aegis::RpcError> {
        Ok(())
    }
}

fn main() {}
