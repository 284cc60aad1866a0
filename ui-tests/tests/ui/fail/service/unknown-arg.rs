// An argument `#[service]` does not know.
struct S;

#[aegis::service(name = "svc", version = "1.0.0", server)]
impl S {}

fn main() {}
