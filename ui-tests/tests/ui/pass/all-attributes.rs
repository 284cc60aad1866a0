// Every handler form: payload, context, both, none, renamed, other error types, aliases.
use aegis::{RequestContext, RpcError};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Req {
    id: u32,
}

#[derive(Serialize, Deserialize)]
struct Resp {
    id: u32,
}

struct Orders;

mod my {
    pub type Result<T> = std::result::Result<T, aegis::RpcError>;
}

#[aegis::service(name = "orders", version = "1.2.3", description = "Takes orders.")]
impl Orders {
    #[rpc]
    async fn payload_only(&self, req: Req) -> Result<Resp, RpcError> {
        Ok(Resp { id: req.id })
    }

    #[rpc]
    async fn context_only(&self, ctx: &RequestContext) -> Result<String, RpcError> {
        Ok(ctx.message_id().to_owned())
    }

    #[rpc(name = "both_renamed")]
    async fn both(&self, ctx: &RequestContext, req: Req) -> Result<Resp, aegis::Error> {
        let _ = ctx.trace_id();
        Ok(Resp { id: req.id })
    }

    #[aegis::rpc]
    async fn payload_then_context(&self, req: Req, _ctx: &aegis::RequestContext) -> my::Result<Resp> {
        Ok(Resp { id: req.id })
    }

    #[rpc]
    async fn unit(&self) -> Result<(), String> {
        Ok(())
    }

    #[rpc]
    async fn self_type(&self, _req: Req) -> Result<Vec<u32>, &'static str> {
        Ok(vec![1, 2])
    }

    #[exclusive_rpc]
    async fn exclusive(&self, ctx: &RequestContext, req: Req) -> Result<Resp, RpcError> {
        let _ = (ctx.fencing_token(), ctx.still_leader());
        Ok(Resp { id: req.id })
    }

    #[aegis::exclusive_rpc(name = "exclusive_renamed")]
    async fn exclusive_unit(&self) -> Result<(), RpcError> {
        Ok(())
    }

    /// Not a handler: left alone.
    fn helper(&self) -> u32 {
        7
    }
}

async fn use_client(client: &OrdersClient) -> Result<(), aegis::Error> {
    let _: Resp = client.payload_only(Req { id: 1 }).await?;
    let _: String = client.context_only().await?;
    let _: Resp = client.both(Req { id: 2 }).await?;
    let _: Resp = client.payload_then_context(Req { id: 3 }).await?;
    client.unit().await?;
    let _: Resp = client.exclusive(Req { id: 5 }).await?;
    client
        .with_retry(aegis::RetryPolicy::none())
        .exclusive_unit()
        .await?;
    let _: Vec<u32> = client.with_timeout(std::time::Duration::from_secs(1)).self_type(Req { id: 4 }).await?;
    Ok(())
}

fn main() {
    let _ = Orders.helper();
    let _ = use_client;
}
