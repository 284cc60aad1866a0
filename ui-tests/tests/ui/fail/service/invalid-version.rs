// Versions are `x.y.z`.
struct S;

#[aegis::service(name = "svc", version = "1.0")]
impl S {}

fn main() {}
