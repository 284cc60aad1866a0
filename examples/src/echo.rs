//! The `echo-service` used by `echo_service` and `echo_client` (and by tools outside the
//! project: keep its contract).

use aegis::{RequestContext, RpcError};
use serde::{Deserialize, Serialize};

/// Params of `echo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoRequest {
    /// The text to send back.
    pub message: String,
}

/// Result of `echo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoReply {
    /// The same text.
    pub echo: String,
    /// Which instance answered.
    pub instance_id: String,
}

/// Result of `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Which instance answered.
    pub instance_id: String,
    /// Always `"healthy"` while it answers.
    pub status: String,
}

/// Echoes messages back, saying which instance did it.
#[derive(Debug, Default)]
pub struct EchoService;

#[aegis::service(name = "echo-service", version = "1.0.0")]
impl EchoService {
    /// Sends `message` back.
    #[rpc]
    pub async fn echo(
        &self,
        ctx: &RequestContext,
        req: EchoRequest,
    ) -> Result<EchoReply, RpcError> {
        Ok(EchoReply {
            echo: req.message,
            instance_id: ctx.instance_id().to_string(),
        })
    }

    /// Reports the instance as healthy.
    #[rpc]
    pub async fn status(&self, ctx: &RequestContext) -> Result<Status, RpcError> {
        Ok(Status {
            instance_id: ctx.instance_id().to_string(),
            status: String::from("healthy"),
        })
    }
}
