// An argument `#[rpc]` does not know.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc(subject = "x")]
    async fn get(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }
}

fn main() {}
