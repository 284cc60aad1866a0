// Commands get a `&CommandContext`; `&RequestContext` is for rpc methods.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[command]
    async fn purge(&self, ctx: &aegis::RequestContext) -> Result<(), aegis::RpcError> {
        let _ = ctx.trace_id();
        Ok(())
    }
}

fn main() {}
