// Method names on the wire are lowercase letters, digits and `_`.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc(name = "Get-Order")]
    async fn get_order(&self) -> Result<u32, aegis::RpcError> {
        Ok(1)
    }
}

fn main() {}
