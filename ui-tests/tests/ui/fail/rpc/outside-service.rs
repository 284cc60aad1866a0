// `#[rpc]` only means something inside a `#[service]` impl.
struct S;

impl S {
    #[aegis::rpc]
    async fn get(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }
}

fn main() {}
