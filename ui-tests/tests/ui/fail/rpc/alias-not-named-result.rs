// Only a return type whose last path segment is `Result` is fallible: an alias with another name is a plain value.
#[derive(serde::Serialize, serde::Deserialize)]
struct Resp {
    n: u32,
}

type MyResult<T> = Result<T, aegis::RpcError>;

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn give(&self) -> MyResult<Resp> {
        Ok(Resp { n: 1 })
    }
}

fn main() {}
