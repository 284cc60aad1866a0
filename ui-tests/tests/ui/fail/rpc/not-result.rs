// Handlers return `Result<T, E>`.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn plain(&self) -> u32 {
        1
    }
}

fn main() {}
