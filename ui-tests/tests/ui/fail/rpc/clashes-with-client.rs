// A handler named like a method of the generated client (`new`).
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn new(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }
}

fn main() {}
