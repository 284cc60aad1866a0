// Handlers cannot be generic.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn echo<T>(&self, t: String) -> Result<String, aegis::RpcError> {
        Ok(t)
    }
}

fn main() {}
