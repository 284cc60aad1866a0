// `aegis` renamed in Cargo.toml to `my_aegis` (no `aegis` in scope at all), found through `crate`.

struct Renamed;

#[my_aegis::service(name = "renamed", version = "1.0.0", crate = "my_aegis")]
impl Renamed {
    #[rpc]
    async fn ok(&self) -> Result<bool, my_aegis::RpcError> {
        Ok(true)
    }
}

fn main() {
    let backend = my_aegis::Backend::in_memory();
    let _ = RenamedClient::new(&backend);
}
