//! The services of the catalogue tests (`catalog.rs`, `catalog_nats.rs`): every handler kind,
//! doc comments, payloads with and without `schemars::JsonSchema`.

// Each test binary uses part of this module.
#![allow(dead_code)]

use aegis::{CommandContext, Event, RequestContext, RpcError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Params of `reserve`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Reserve {
    pub(crate) sku: String,
    pub(crate) quantity: u32,
}

/// Result of `reserve`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Reservation {
    pub(crate) id: String,
    pub(crate) lines: Vec<Line>,
}

/// A nested type: a definition of its own in the schema.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Line {
    pub(crate) sku: String,
    pub(crate) quantity: u32,
}

/// The event `on_order` takes.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct OrderShipped {
    pub(crate) order_id: String,
}

/// No `JsonSchema`: the catalogue has its name and no schema.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Scope {
    pub(crate) full: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Inventory;

/// Keeps the stock.
///
/// Not in the description: only the first paragraph is.
#[aegis::service(name = "catalog-inventory", version = "1.2.0")]
impl Inventory {
    /// Reserves items
    /// for an order.
    ///
    /// Not in the doc: only the first paragraph is.
    #[rpc]
    async fn reserve(&self, ctx: &RequestContext, req: Reserve) -> Result<Reservation, RpcError> {
        Ok(Reservation {
            id: ctx.instance_id().to_string(),
            lines: vec![Line {
                sku: req.sku,
                quantity: req.quantity,
            }],
        })
    }

    /// How many are left.
    #[rpc(name = "stock_level")]
    async fn level(&self, sku: String) -> u32 {
        u32::try_from(sku.len()).unwrap_or(u32::MAX)
    }

    /// Recounts everything, on the leader only.
    #[exclusive_rpc]
    async fn recount(&self) -> Result<Vec<Line>, RpcError> {
        Ok(Vec::new())
    }

    /// Restocks when an order ships.
    #[subscribe("orders.*", mode = "broadcast")]
    async fn on_order(&self, event: Event<OrderShipped>) -> Result<(), RpcError> {
        let _ = &event.payload().order_id;
        Ok(())
    }

    /// Rebuilds the index.
    #[command]
    async fn reindex(&self, ctx: &CommandContext, scope: Scope) -> Result<u64, RpcError> {
        ctx.progress(100.0, "done").await;
        Ok(u64::from(scope.full))
    }
}

/// A service without docs or payloads.
#[derive(Debug, Default)]
pub(crate) struct Mailer;

#[aegis::service(name = "catalog-mailer", version = "0.1.0", client = false)]
impl Mailer {
    #[rpc]
    async fn ping(&self) {}

    #[subscribe(">")]
    async fn audit(&self, event: aegis::Event<serde_json::Value>) {
        let _ = event.payload();
    }

    #[command(name = "flush_all")]
    async fn flush(&self) -> Result<(), RpcError> {
        Ok(())
    }

    /// Compiled out: not in the catalogue either.
    #[cfg(any())]
    #[rpc]
    async fn hidden(&self) -> u32 {
        0
    }
}
