// Wire names are unique across `#[rpc]` and `#[exclusive_rpc]`.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn work(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }

    #[exclusive_rpc(name = "work")]
    async fn work_alone(&self) -> Result<u32, aegis::RpcError> {
        Ok(2)
    }
}

fn main() {}
