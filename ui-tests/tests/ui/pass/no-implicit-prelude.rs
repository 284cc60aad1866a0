// Generated code names everything by absolute path: it compiles without the prelude.
#![no_implicit_prelude]

#[derive(::serde::Serialize, ::serde::Deserialize)]
struct Req {
    n: u32,
}

struct Bare;

#[::aegis::service(name = "bare", version = "1.0.0")]
impl Bare {
    #[rpc]
    async fn double(&self, req: Req) -> ::std::result::Result<u32, ::aegis::RpcError> {
        ::std::result::Result::Ok(req.n * 2)
    }

    #[rpc]
    async fn nothing(&self) -> ::std::result::Result<(), ::aegis::RpcError> {
        ::std::result::Result::Ok(())
    }
}

fn main() {
    let backend = ::aegis::Backend::in_memory();
    let _ = BareClient::new(&backend);
}
