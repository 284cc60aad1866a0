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
}

fn main() {}
