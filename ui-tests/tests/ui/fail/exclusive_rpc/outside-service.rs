// `#[exclusive_rpc]` only means something inside a `#[service]` impl.
struct S;

impl S {
    #[aegis::exclusive_rpc]
    async fn work(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }
}

fn main() {}
