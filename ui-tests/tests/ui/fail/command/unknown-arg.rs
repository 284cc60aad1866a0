// An argument `#[command]` does not know.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[command(priority = "high")]
    async fn purge(&self) -> Result<(), aegis::RpcError> {
        Ok(())
    }
}

fn main() {}
