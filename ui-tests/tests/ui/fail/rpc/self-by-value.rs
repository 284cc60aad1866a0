// Handlers take `&self`, not `self`.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn ping(self) -> Result<(), aegis::RpcError> {
        Ok(())
    }
}

fn main() {}
