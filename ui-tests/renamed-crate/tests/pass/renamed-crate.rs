// `aegis` renamed in Cargo.toml to `my_aegis` (no `aegis` in scope at all), found through `crate`.

struct Renamed;

#[my_aegis::service(name = "renamed", version = "1.0.0", crate = "my_aegis")]
impl Renamed {
    #[rpc]
    async fn ok(&self) -> Result<bool, my_aegis::RpcError> {
        Ok(true)
    }

    #[subscribe("renamed.*", mode = "broadcast")]
    async fn on_renamed(&self, event: my_aegis::Event<u32>) -> Result<(), my_aegis::RpcError> {
        let _ = event.payload();
        Ok(())
    }

    #[command]
    async fn redo(&self, ctx: &my_aegis::CommandContext, times: u32) -> Result<u32, my_aegis::RpcError> {
        let _ = ctx.attempt();
        Ok(times)
    }
}

async fn use_client(client: &RenamedClient) -> my_aegis::Result<()> {
    let options = my_aegis::commands::CommandOptions::new();
    let _: my_aegis::commands::CommandHandle<u32> =
        client.with_command_options(options).redo(2).await?;
    Ok(())
}

fn main() {
    let backend = my_aegis::Backend::in_memory();
    let _ = RenamedClient::new(&backend);
    let _ = use_client;
    assert_eq!(<Renamed as my_aegis::Service>::__subscriptions().len(), 1);
    assert_eq!(<Renamed as my_aegis::Service>::__commands().len(), 1);
    // Registered at link time through the renamed crate.
    let catalog = my_aegis::catalog();
    let names: Vec<&str> = catalog.iter().map(|s| s.name).collect();
    assert_eq!(names, ["renamed"]);
    assert_eq!(catalog[0].commands[0].payload.as_ref().map(|t| t.name), Some("u32"));
}
