// A method is either `#[rpc]` or `#[exclusive_rpc]`, not both.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    #[exclusive_rpc]
    async fn work(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }
}

fn main() {}
