// A return type named `Result` is read as fallible, so it must be a `Result`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Result {
    ok: bool,
}

struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl S {
    #[rpc]
    async fn check(&self) -> Result {
        Result { ok: true }
    }
}

fn main() {}
