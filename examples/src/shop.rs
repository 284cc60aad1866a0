//! Events of a shop, and a service that reacts to them (`event_publisher`,
//! `event_subscriber`).

use std::sync::atomic::{AtomicU64, Ordering};

use aegis::events::Topic;
use aegis::{Event, RpcError};
use serde::{Deserialize, Serialize};

/// Published on `events.orders.placed` when a customer places an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderPlaced {
    /// The order.
    pub order_id: u64,
    /// Its total, in cents.
    pub total_cents: u64,
}

/// The topic of [`OrderPlaced`].
pub fn order_placed() -> Topic<OrderPlaced> {
    Topic::new("orders", "placed").expect("a valid topic")
}

/// Reacts to orders: one instance handles each order (compete), every instance logs every
/// order event (broadcast).
#[derive(Debug, Default)]
pub struct Notifier {
    /// Orders this instance handled.
    pub handled: AtomicU64,
    /// Confirm free orders too (a later release: run with it, then replay the dead letters
    /// the earlier one left, `aegis dlq replay`).
    pub accept_free: bool,
}

#[aegis::service(name = "notifier", version = "1.0.0")]
impl Notifier {
    /// Sends the confirmation of an order: exactly one instance of `notifier` does it.
    #[subscribe("orders.placed")]
    async fn confirm(&self, event: Event<OrderPlaced>) -> Result<(), RpcError> {
        let order = event.payload();
        if order.total_cents == 0 && !self.accept_free {
            // The event itself is wrong: 4xx goes straight to the dead letters.
            return Err(RpcError::bad_request("an order cannot be free"));
        }
        self.handled.fetch_add(1, Ordering::Relaxed);
        println!(
            "confirm order {} ({} cents), event {} from {}",
            order.order_id,
            order.total_cents,
            event.id(),
            event.source().unwrap_or("?")
        );
        Ok(())
    }

    /// Every instance sees every order event, whatever its type.
    #[subscribe("orders.*", mode = "broadcast")]
    async fn audit(&self, event: Event<serde_json::Value>) -> Result<(), RpcError> {
        println!(
            "audit {} (delivery {})",
            event.subject(),
            event.delivery_count()
        );
        Ok(())
    }
}
