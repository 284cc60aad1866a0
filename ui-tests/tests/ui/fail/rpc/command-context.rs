// Rpc methods get a `&RequestContext`; `&CommandContext` is for commands.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn get(&self, ctx: &aegis::CommandContext) -> Result<u64, aegis::RpcError> {
        Ok(ctx.attempt())
    }
}

fn main() {}
