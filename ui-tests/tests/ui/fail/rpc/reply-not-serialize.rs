// The reply must implement `Serialize` (the error is on the return type).
#[derive(serde::Deserialize)]
struct Resp {
    n: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn give(&self) -> Result<Resp, aegis::RpcError> {
        Ok(Resp { n: 1 })
    }
}

fn main() {}
