// The payload must implement `Deserialize` (the error is on the payload type).
#[derive(serde::Serialize)]
struct Export {
    rows: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[command]
    async fn export(&self, req: Export) -> Result<u32, aegis::RpcError> {
        Ok(req.rows)
    }
}

fn main() {}
