// A plain return value is the reply: it must implement `Serialize` (the error is on the return type).
#[derive(serde::Deserialize)]
struct Resp {
    n: u32,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn plain(&self) -> Resp {
        Resp { n: 1 }
    }
}

fn main() {}
