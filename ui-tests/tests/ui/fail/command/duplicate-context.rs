// One `&CommandContext` per command: the error is on the second.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[command]
    async fn purge(
        &self,
        ctx: &aegis::CommandContext,
        again: &aegis::CommandContext,
    ) -> Result<(), aegis::RpcError> {
        let _ = (ctx.attempt(), again.attempt());
        Ok(())
    }
}

fn main() {}
