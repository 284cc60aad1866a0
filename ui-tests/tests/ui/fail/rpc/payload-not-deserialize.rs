// The payload must implement `Deserialize` (the error is on the payload type).
#[derive(serde::Serialize)]
struct Req {
    n: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn take(&self, req: Req) -> Result<u32, aegis::RpcError> {
        Ok(req.n)
    }
}

fn main() {}
