// A command named like a method of the generated client (`with_command_options`).
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[command]
    async fn with_command_options(&self) -> Result<(), aegis::RpcError> {
        Ok(())
    }
}

fn main() {}
