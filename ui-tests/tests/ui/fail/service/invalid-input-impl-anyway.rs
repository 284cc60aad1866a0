// On an error, the impl (attributes stripped), the trait impl and the client are still there:
// the only error is the one mistake, not a cascade in the code that uses them.
struct S;

#[aegis::service(name = "svc", version = "x")]
impl S {
    #[rpc]
    async fn ok(&self) -> Result<u8, aegis::RpcError> {
        Ok(1)
    }

    fn helper(&self) -> u8 {
        2
    }
}

async fn run() -> aegis::Result<()> {
    let backend = aegis::Backend::in_memory();
    let _handle = backend.serve(S).await?;
    let _client = SClient::clone(&SClient);
    let _ = S.helper();
    let _ = S.ok().await;
    Ok(())
}

fn main() {
    let _ = run;
}
