// `#[service]` goes on the impl block, not the struct.
#[aegis::service(name = "svc", version = "1.0.0")]
struct S;

fn main() {
    let _ = S;
}
