// The result must implement `Serialize` (the error is on the return type).
#[derive(serde::Deserialize)]
struct Exported {
    rows: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[command]
    async fn export(&self) -> Result<Exported, aegis::RpcError> {
        Ok(Exported { rows: 1 })
    }
}

fn main() {}
