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

    #[subscribe("bare.*", mode = "broadcast")]
    async fn on_bare(&self, event: ::aegis::Event<Req>) -> ::std::result::Result<(), ::aegis::RpcError> {
        let _ = event.payload().n;
        ::std::result::Result::Ok(())
    }

    #[command]
    async fn rebuild(
        &self,
        ctx: &::aegis::CommandContext,
        req: Req,
    ) -> ::std::result::Result<u32, ::aegis::RpcError> {
        ctx.progress(50.0, "halfway").await;
        ::std::result::Result::Ok(req.n)
    }

    #[command]
    async fn reset(&self) -> ::std::result::Result<(), ::aegis::RpcError> {
        ::std::result::Result::Ok(())
    }
}

async fn use_client(client: &BareClient) -> ::aegis::Result<()> {
    let _ = client.rebuild(Req { n: 1 }).await?;
    let _ = client
        .with_command_options(::aegis::commands::CommandOptions::new())
        .reset()
        .await?;
    ::std::result::Result::Ok(())
}

fn main() {
    let backend = ::aegis::Backend::in_memory();
    let _ = BareClient::new(&backend);
    let _ = use_client;
}
