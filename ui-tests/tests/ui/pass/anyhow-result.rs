// Handlers may return `anyhow::Result<T>` or `Result<T, anyhow::Error>` (feature `anyhow`):
// the error reaches the caller as a 500 with its whole chain.
use anyhow::Context as _;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Lookup {
    id: String,
}

#[derive(Serialize, Deserialize)]
struct Order {
    id: u64,
}

struct Orders;

#[aegis::service(name = "orders", version = "1.0.0")]
impl Orders {
    #[rpc]
    async fn get(&self, lookup: Lookup) -> anyhow::Result<Order> {
        let id = lookup.id.parse().context("reading the order id")?;
        Ok(Order { id })
    }

    #[rpc]
    async fn check(&self) -> Result<(), anyhow::Error> {
        anyhow::bail!("not implemented yet")
    }
}

fn main() {
    let backend = aegis::Backend::in_memory();
    let client = OrdersClient::new(&backend);
    let _get = client.get(Lookup { id: "42".into() });
    let _check = client.check();
}
