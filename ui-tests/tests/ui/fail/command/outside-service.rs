// `#[command]` only means something inside a `#[service]` impl.
struct S;

impl S {
    #[aegis::command]
    async fn purge(&self) -> Result<(), aegis::RpcError> {
        Ok(())
    }
}

fn main() {}
