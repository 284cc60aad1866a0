// `name` given twice: the error is on the second.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc(name = "a", name = "b")]
    async fn get(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }
}

fn main() {}
