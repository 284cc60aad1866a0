// Without `name = "..."`, the method's own name must be a valid wire name.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    #[allow(non_snake_case)]
    async fn getOrder(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }
}

fn main() {}
