// Generated public items carry docs: `#![deny(missing_docs)]` crates compile.
#![deny(missing_docs)]
//! A documented crate.

/// Request.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Req {
    /// A number.
    pub n: u32,
}

/// The service.
pub struct Documented;

#[aegis::service(name = "documented", version = "1.0.0")]
impl Documented {
    /// Documented handler.
    #[rpc]
    pub async fn documented(&self, req: Req) -> Result<u32, aegis::RpcError> {
        Ok(req.n)
    }

    #[rpc]
    async fn undocumented(&self) -> Result<(), aegis::RpcError> {
        Ok(())
    }

    #[subscribe("documented.changed")]
    async fn on_changed(&self, _event: aegis::Event<Req>) -> Result<(), aegis::RpcError> {
        Ok(())
    }

    /// Documented command.
    #[command]
    pub async fn rebuild(&self, ctx: &aegis::CommandContext) -> Result<u64, aegis::RpcError> {
        Ok(ctx.attempt())
    }

    #[command]
    async fn undocumented_command(&self, req: Req) -> Result<u32, aegis::RpcError> {
        Ok(req.n)
    }
}

fn main() {}
