// The error type must implement `aegis::IntoRpcError`.
#[derive(Debug)]
struct MyError;

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn fails(&self) -> Result<u32, MyError> {
        Err(MyError)
    }
}

fn main() {}
