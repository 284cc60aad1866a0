// `#[cfg]` on a handler removes it from the service and the client alike.
struct Flags;

#[aegis::service(name = "flags", version = "1.0.0")]
impl Flags {
    #[rpc]
    async fn always(&self) -> Result<u8, aegis::RpcError> {
        Ok(1)
    }

    #[cfg(any())]
    #[rpc]
    async fn never(&self) -> Result<u8, aegis::RpcError> {
        Ok(2)
    }

    #[subscribe("flags.*")]
    async fn on_flag(&self, _event: aegis::Event<u8>) -> Result<(), aegis::RpcError> {
        Ok(())
    }

    #[cfg(any())]
    #[subscribe("flags.*")]
    async fn on_flag_never(&self, _event: aegis::Event<u8>) -> Result<(), aegis::RpcError> {
        Ok(())
    }

    #[command]
    async fn flip(&self) -> Result<u8, aegis::RpcError> {
        Ok(3)
    }

    #[cfg(any())]
    #[command]
    async fn flip_never(&self) -> Result<u8, aegis::RpcError> {
        Ok(4)
    }
}

// Calling a cfg'd-out command on the client would not compile; the present one does.
async fn use_client(client: &FlagsClient) -> aegis::Result<()> {
    let _ = client.flip().await?;
    Ok(())
}

fn main() {
    let names: Vec<&str> = <Flags as aegis::Service>::__methods().iter().map(|m| m.name).collect();
    assert_eq!(names, ["always"]);
    let handlers: Vec<&str> =
        <Flags as aegis::Service>::__subscriptions().iter().map(|s| s.handler).collect();
    assert_eq!(handlers, ["on_flag"]);
    let commands: Vec<&str> =
        <Flags as aegis::Service>::__commands().iter().map(|c| c.name).collect();
    assert_eq!(commands, ["flip"]);
    let _ = use_client;
}
