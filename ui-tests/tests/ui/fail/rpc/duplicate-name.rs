// Two handlers with one wire name: the error is on the second.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn get(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }

    #[rpc(name = "get")]
    async fn get_again(&self) -> Result<u32, aegis::RpcError> {
        Ok(2)
    }
}

fn main() {}
