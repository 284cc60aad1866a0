// An argument `#[service]` does not know.
struct S;

#[aegis::service(name = "svc", version = "1.0.0", client)]
impl S {}

fn main() {}
