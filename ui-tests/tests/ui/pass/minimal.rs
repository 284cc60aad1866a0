// The smallest service: one rpc, no payload.
struct Ping;

#[aegis::service(name = "ping", version = "0.1.0")]
impl Ping {
    #[rpc]
    async fn ping(&self) -> Result<String, aegis::RpcError> {
        Ok(String::from("pong"))
    }
}

fn main() {
    let backend = aegis::Backend::in_memory();
    let _client = PingClient::new(&backend);
    let _ = <Ping as aegis::Service>::NAME;
}
