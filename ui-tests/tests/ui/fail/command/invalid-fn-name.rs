// Without `name = "..."`, the method's own name must be a valid command name.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[command]
    #[allow(non_snake_case)]
    async fn purgeAll(&self) -> Result<(), aegis::RpcError> {
        Ok(())
    }
}

fn main() {}
