// Two commands with one wire name: the error is on the second.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[command]
    async fn purge(&self) -> Result<(), aegis::RpcError> {
        Ok(())
    }

    #[command(name = "purge")]
    async fn purge_again(&self) -> Result<(), aegis::RpcError> {
        Ok(())
    }
}

fn main() {}
