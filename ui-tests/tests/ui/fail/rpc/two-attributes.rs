// One handler attribute per method.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    #[rpc(name = "again")]
    async fn get(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }
}

fn main() {}
