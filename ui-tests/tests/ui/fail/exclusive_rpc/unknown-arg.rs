// An argument `#[exclusive_rpc]` does not know.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[exclusive_rpc(group = "main")]
    async fn work(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }
}

fn main() {}
