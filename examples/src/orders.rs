//! The `order-processor` used by `order_processor` (and by tools outside the project: keep its
//! contract): one exclusive method, run by the elected leader only, and a health check.

use std::sync::OnceLock;
use std::time::Duration;

use aegis::ports::Message;
use aegis::{Backend, RequestContext, RpcError, ServiceHandle};
use serde::{Deserialize, Serialize};

/// Params of `process_order`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessOrder {
    /// The order to process.
    pub order_id: String,
}

/// Result of `process_order`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processed {
    /// The order.
    pub order_id: String,
    /// Always `"processed"`.
    pub status: String,
    /// The leader that processed it.
    pub instance_id: String,
    /// The fencing token of the leader's lease.
    pub epoch: u64,
}

/// Result of `health_check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// This instance.
    pub instance_id: String,
    /// Whether it leads its group now.
    pub is_active: bool,
}

/// One start or end of `process_order`, published to the audit subject when one is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// `start` or `end`.
    pub event: String,
    /// The instance.
    pub instance_id: String,
    /// Its fencing token.
    pub epoch: u64,
    /// The order.
    pub order_id: String,
}

/// Processes orders on exactly one instance of its group at a time.
#[derive(Debug, Default)]
pub struct OrderProcessor {
    /// Set after start, for `health_check`.
    pub handle: OnceLock<ServiceHandle>,
    /// Where to publish audit events (start/end of each order), if anywhere.
    pub audit: Option<(Backend, String)>,
    /// Simulated work per order.
    pub work: Duration,
}

impl OrderProcessor {
    async fn audit(&self, event: &str, ctx: &RequestContext, epoch: u64, order_id: &str) {
        let Some((backend, subject)) = &self.audit else {
            return;
        };
        let record = AuditEvent {
            event: event.to_owned(),
            instance_id: ctx.instance_id().to_string(),
            epoch,
            order_id: order_id.to_owned(),
        };
        if let Ok(payload) = serde_json::to_vec(&record) {
            let _ = backend
                .bus()
                .publish(Message::new(subject.clone(), payload))
                .await;
        }
    }
}

#[aegis::service(name = "order-processor", version = "1.0.0")]
impl OrderProcessor {
    /// Processes an order; only the leader runs this.
    #[exclusive_rpc]
    pub async fn process_order(
        &self,
        ctx: &RequestContext,
        req: ProcessOrder,
    ) -> Result<Processed, RpcError> {
        let epoch = ctx
            .fencing_token()
            .ok_or_else(|| RpcError::internal("exclusive handler without a fencing token"))?;
        self.audit("start", ctx, epoch, &req.order_id).await;
        if !self.work.is_zero() {
            tokio::time::sleep(self.work).await;
        }
        self.audit("end", ctx, epoch, &req.order_id).await;
        Ok(Processed {
            order_id: req.order_id,
            status: String::from("processed"),
            instance_id: ctx.instance_id().to_string(),
            epoch,
        })
    }

    /// Reports this instance and whether it leads; every instance answers.
    #[rpc]
    pub async fn health_check(&self, ctx: &RequestContext) -> Result<HealthCheck, RpcError> {
        Ok(HealthCheck {
            instance_id: ctx.instance_id().to_string(),
            is_active: self.handle.get().is_some_and(ServiceHandle::is_active),
        })
    }
}
