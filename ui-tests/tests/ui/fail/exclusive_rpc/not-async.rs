// Exclusive handlers are `async fn` too; the error names the attribute used.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[exclusive_rpc]
    fn work(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }
}

fn main() {}
