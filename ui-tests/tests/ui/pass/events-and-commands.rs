// Every handler kind in one service: rpc, exclusive_rpc, subscribe (both modes, wildcards, `>`,
// two handlers on one pattern) and command (with and without context and payload), plus the
// generated client's command methods. The tables list each kind where the runtime looks for it.
use aegis::commands::{CommandHandle, CommandOptions, Priority};
use aegis::events::SubscriptionMode;
use aegis::{CommandContext, Event, RequestContext, RpcError, Service};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct OrderCreated {
    id: u32,
}

#[derive(Serialize, Deserialize)]
struct Export {
    format: String,
}

#[derive(Serialize, Deserialize)]
struct Exported {
    rows: u64,
}

struct Orders;

#[aegis::service(name = "orders", version = "1.0.0")]
impl Orders {
    #[rpc]
    async fn get(&self, ctx: &RequestContext, id: u32) -> Result<u32, RpcError> {
        let _ = ctx.trace_id();
        Ok(id)
    }

    #[exclusive_rpc]
    async fn reserve(&self, id: u32) -> Result<bool, RpcError> {
        Ok(id > 0)
    }

    /// Every `orders` event, on one instance of the service.
    #[subscribe("orders.*")]
    async fn on_order(&self, event: Event<OrderCreated>) -> Result<(), RpcError> {
        let _ = (event.id(), event.domain(), event.event_type(), event.payload().id);
        Ok(())
    }

    #[aegis::subscribe("orders.*", mode = "broadcast")]
    async fn refresh_cache(&self, event: aegis::Event<std::collections::HashMap<String, u32>>) -> Result<(), String> {
        let _ = event.into_payload();
        Ok(())
    }

    #[subscribe(">", mode = "compete")]
    async fn audit(&self, _event: Event<serde::de::IgnoredAny>) -> aegis::Result<()> {
        Ok(())
    }

    #[subscribe("*.item.>")]
    async fn items(&self, _event: Event<OrderCreated>) -> Result<(), aegis::Error> {
        Ok(())
    }

    /// Exports the orders, reporting progress.
    #[command]
    async fn export(&self, ctx: &CommandContext, req: Export) -> Result<Exported, RpcError> {
        ctx.progress(50.0, req.format).await;
        if ctx.is_cancelled() {
            return Err(RpcError::new(499, "cancelled"));
        }
        Ok(Exported { rows: ctx.attempt() })
    }

    #[command(name = "purge_all")]
    async fn purge(&self) -> Result<(), RpcError> {
        Ok(())
    }

    #[aegis::command]
    async fn recount(&self, ctx: &aegis::CommandContext) -> Result<u64, RpcError> {
        Ok(ctx.attempt())
    }

    #[command]
    async fn replay(&self, from: u64) -> Result<Vec<u64>, RpcError> {
        Ok(vec![from])
    }

    // A command may share its wire name with an rpc method: other subjects.
    #[command(name = "get")]
    async fn get_later(&self, id: u32) -> Result<u32, RpcError> {
        Ok(id)
    }
}

async fn use_client(client: &OrdersClient) -> Result<(), aegis::Error> {
    let _: u32 = client.get(1).await?;
    let _: bool = client.reserve(1).await?;
    let handle: CommandHandle<Exported> = client
        .export(Export { format: "csv".to_owned() })
        .await?;
    let _: &str = handle.id();
    let _: Exported = handle.result().await?;
    let options = CommandOptions::new()
        .priority(Priority::High)
        .max_retries(1)
        .timeout(std::time::Duration::from_secs(10));
    let mut purge: CommandHandle<()> = client.with_command_options(options).purge().await?;
    let _ = purge.next().await;
    let _: CommandHandle<u64> = client.recount().await?;
    let _: CommandHandle<Vec<u64>> = client.replay(7).await?;
    let _: CommandHandle<u32> = client.get_later(2).await?;
    Ok(())
}

fn main() {
    let methods: Vec<&str> = Orders::__methods().iter().map(|m| m.name).collect();
    assert_eq!(methods, ["get", "reserve"]);

    let subscriptions: Vec<(&str, &str, SubscriptionMode)> = Orders::__subscriptions()
        .iter()
        .map(|s| (s.handler, s.pattern, s.mode))
        .collect();
    assert_eq!(
        subscriptions,
        [
            ("on_order", "orders.*", SubscriptionMode::Compete),
            ("refresh_cache", "orders.*", SubscriptionMode::Broadcast),
            ("audit", ">", SubscriptionMode::Compete),
            ("items", "*.item.>", SubscriptionMode::Compete),
        ]
    );

    let commands: Vec<&str> = Orders::__commands().iter().map(|c| c.name).collect();
    assert_eq!(commands, ["export", "purge_all", "recount", "replay", "get"]);

    let _ = use_client;
}
