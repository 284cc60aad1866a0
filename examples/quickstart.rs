//! Quickstart: a service and its typed client on the in-memory backend (no server needed).
//!
//! Run with `cargo run --example quickstart`.

use std::time::Duration;

use std::sync::Arc;

use aegis::commands::CommandUpdate;
use aegis::discovery::{
    BasicServiceDiscovery, CacheConfig, CachedServiceDiscovery, SelectionStrategy, ServiceDiscovery,
};
use aegis::events::{EventPublisher, Topic};
use aegis::{
    Backend, Codec, CommandContext, Error, Event, RequestContext, RpcError, ServiceBuilder,
    ServiceConfig,
};
use clap::Parser;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Hello {
    name: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Greeting {
    text: String,
    served_by: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Nap {
    millis: u64,
}

/// A greeter that counts the greetings it gave.
#[derive(Default)]
struct Greeter {
    greeted: std::sync::atomic::AtomicU64,
}

#[aegis::service(name = "greeter", version = "1.0.0")]
impl Greeter {
    /// Greets by name; an empty name is the caller's mistake.
    #[rpc]
    async fn hello(&self, ctx: &RequestContext, req: Hello) -> Result<Greeting, RpcError> {
        if req.name.is_empty() {
            return Err(RpcError::bad_request("name must not be empty"));
        }
        self.greeted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Greeting {
            text: format!("hello, {}", req.name),
            served_by: ctx.instance_id().to_string(),
        })
    }

    /// How many greetings so far.
    #[rpc(name = "count")]
    async fn greeted(&self) -> Result<u64, RpcError> {
        Ok(self.greeted.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Sleeps, to show timeouts.
    #[rpc]
    async fn nap(&self, req: Nap) -> Result<(), RpcError> {
        tokio::time::sleep(Duration::from_millis(req.millis)).await;
        Ok(())
    }
}

/// A ledger only one instance may write at a time.
struct Ledger;

#[aegis::service(name = "ledger", version = "1.0.0")]
impl Ledger {
    /// Runs on the elected leader only; says who ran it and under which fencing token.
    #[exclusive_rpc]
    async fn bump(&self, ctx: &RequestContext) -> Result<(String, u64), RpcError> {
        let token = ctx.fencing_token().unwrap_or_default();
        Ok((ctx.instance_id().to_string(), token))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Bake {
    cakes: u32,
}

/// A kitchen: hears about orders (an event) and bakes on request (a command).
#[derive(Default)]
struct Kitchen {
    orders: tokio::sync::Mutex<Vec<u64>>,
    heard: tokio::sync::Notify,
}

#[aegis::service(name = "kitchen", version = "1.0.0")]
impl Kitchen {
    /// Each `events.orders.placed` event reaches one kitchen instance.
    #[subscribe("orders.placed")]
    async fn on_order(&self, event: Event<OrderPlaced>) -> Result<(), RpcError> {
        self.orders.lock().await.push(event.payload().order_id);
        self.heard.notify_one();
        Ok(())
    }

    /// Bakes, reporting progress after each cake.
    #[command]
    async fn bake(&self, ctx: &CommandContext, job: Bake) -> Result<String, RpcError> {
        for cake in 1..=job.cakes {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let percent = f64::from(cake) * 100.0 / f64::from(job.cakes);
            ctx.progress(percent, format!("cake {cake} of {}", job.cakes))
                .await;
        }
        Ok(format!(
            "{} cakes baked by {}",
            job.cakes,
            ctx.instance_id()
        ))
    }
}

/// A tour of aegis on the in-memory backend (no server needed): RPC, a single-active
/// service, events, a command with progress, discovery. Takes no arguments.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {}

#[tokio::main]
async fn main() -> Result<(), Error> {
    Args::parse();
    let backend = Backend::in_memory();

    let service = ServiceBuilder::new(Greeter::default())
        .on_start(|_| async {
            println!("[service] on_start hook ran");
            Ok(())
        })
        .start(&backend)
        .await?;
    println!(
        "[service] {} v{} instance {} is {}",
        service.service_name(),
        service.version(),
        service.instance_id(),
        service.state()
    );

    let client = GreeterClient::new(&backend);

    let greeting = client.hello(Hello { name: "Ada".into() }).await?;
    println!(
        "[client] hello(Ada)          -> {:?} (by {})",
        greeting.text, greeting.served_by
    );

    let json = client.with_codec(Codec::Json);
    let greeting = json
        .hello(Hello {
            name: "Grace".into(),
        })
        .await?;
    println!("[client] hello(Grace), JSON  -> {:?}", greeting.text);

    match client
        .hello(Hello {
            name: String::new(),
        })
        .await
    {
        Err(Error::BadRequest { message }) => {
            println!("[client] hello(\"\")            -> bad request: {message}")
        }
        other => panic!("expected a bad request, got {other:?}"),
    }

    let quick = client.with_timeout(Duration::from_millis(100));
    match quick.nap(Nap { millis: 2_000 }).await {
        Err(Error::Timeout { after, .. }) => {
            println!("[client] nap(2s), 100ms budget -> timed out after {after:?}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }

    println!(
        "[client] count()             -> {}",
        client.greeted().await?
    );

    // Discovery and a strategy: a second instance, and calls that alternate between the two
    // (each goes to the chosen instance's own subject, not through the queue group).
    let second = ServiceBuilder::new(Greeter::default())
        .start(&backend)
        .await?;
    let discovery = Arc::new(CachedServiceDiscovery::new(
        BasicServiceDiscovery::new(&backend, Duration::from_secs(30)),
        CacheConfig::default(),
    ));
    let found = discovery.discover("greeter", true).await?;
    println!(
        "[discovery] greeter instances  -> {:?}",
        found
            .iter()
            .map(|i| i.instance_id.as_str())
            .collect::<Vec<_>>()
    );
    let balanced = client.with_discovery(discovery, SelectionStrategy::RoundRobin);
    for name in ["Alan", "Barbara", "Edsger", "Frances"] {
        let greeting = balanced.hello(Hello { name: name.into() }).await?;
        println!(
            "[client] round robin {name:<8} -> served by {}",
            greeting.served_by
        );
    }
    second.stop().await?;

    // Single-active: two instances of a service with an `#[exclusive_rpc]` method elect a
    // leader; only it runs `bump`. When it stops, the other takes over with a higher
    // fencing token.
    let config = || ServiceConfig::new().leader_ttl(Duration::from_secs(2));
    let first = ServiceBuilder::new(Ledger)
        .config(config())
        .start(&backend)
        .await?;
    let standby = ServiceBuilder::new(Ledger)
        .config(config())
        .start(&backend)
        .await?;
    let ledger = LedgerClient::new(&backend);
    let before = ledger.bump().await?;
    println!(
        "[single-active] bump            -> served by leader {} (fencing token {})",
        before.0, before.1
    );
    let (leader, other) = if first.instance_id().as_str() == before.0 {
        (first, standby)
    } else {
        (standby, first)
    };
    leader.stop().await?;
    let after = ledger.bump().await?;
    println!(
        "[single-active] after failover  -> served by {} (fencing token {})",
        after.0, after.1
    );
    assert_eq!(after.0, other.instance_id().as_str());
    assert!(after.1 > before.1);
    other.stop().await?;

    // Events and commands: a published event reaches the `#[subscribe]` handler; a command
    // runs once, its progress and result come back to the caller.
    let kitchen = Arc::new(Kitchen::default());
    let kitchen_handle = ServiceBuilder::from_arc(Arc::clone(&kitchen))
        .start(&backend)
        .await?;
    let heard = kitchen.heard.notified();
    let publisher = EventPublisher::new(&backend)?.with_source("quickstart");
    let placed = Topic::<OrderPlaced>::new("orders", "placed")?;
    let ack = publisher
        .publish(&placed, &OrderPlaced { order_id: 42 })
        .await?;
    tokio::time::timeout(Duration::from_secs(5), heard)
        .await
        .map_err(|_| Error::Closed("the order event never arrived".into()))?;
    println!(
        "[events] orders.placed #42      -> stored at EVENTS seq {}, heard: {:?}",
        ack.sequence,
        kitchen.orders.lock().await
    );
    let mut bake = KitchenClient::new(&backend).bake(Bake { cakes: 3 }).await?;
    while let Some(update) = bake.next().await {
        match update {
            CommandUpdate::Progress(p) => {
                println!(
                    "[commands] bake progress        -> {:>3.0}% {}",
                    p.percent, p.message
                )
            }
            CommandUpdate::Retrying(error) => {
                println!("[commands] bake retrying        -> {error}")
            }
            CommandUpdate::Finished(result) => {
                println!("[commands] bake result          -> {:?}", result?)
            }
        }
    }
    kitchen_handle.stop().await?;

    service.stop().await?;
    println!("[service] stopped: state is {}", service.state());
    match client.greeted().await {
        Err(Error::NoResponders { subject }) => {
            println!("[client] count() after stop  -> no responders on {subject}")
        }
        other => panic!("expected no responders, got {other:?}"),
    }
    Ok(())
}
