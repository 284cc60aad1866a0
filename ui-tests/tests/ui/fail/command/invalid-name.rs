// Command names on the wire are lowercase letters, digits and `_`.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[command(name = "Purge-All")]
    async fn purge(&self) -> Result<(), aegis::RpcError> {
        Ok(())
    }
}

fn main() {}
