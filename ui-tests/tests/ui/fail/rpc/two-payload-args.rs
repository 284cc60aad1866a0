// At most one payload argument; the error is on the second.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn add(&self, a: u32, b: u32) -> Result<u32, aegis::RpcError> {
        Ok(a + b)
    }
}

fn main() {}
