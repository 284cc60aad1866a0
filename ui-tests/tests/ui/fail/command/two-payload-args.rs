// At most one payload argument; the error is on the second.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[command]
    async fn resize(&self, width: u32, height: u32) -> Result<u32, aegis::RpcError> {
        Ok(width * height)
    }
}

fn main() {}
