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
}

fn main() {
    let names: Vec<&str> = <Flags as aegis::Service>::__methods().iter().map(|m| m.name).collect();
    assert_eq!(names, ["always"]);
}
