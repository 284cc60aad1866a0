// `#[service]` goes on an impl block, not a function.
#[aegis::service(name = "svc", version = "1.0.0")]
fn handler() {}

fn main() {
    handler();
}
