// The same argument twice: the error is on the second.
struct S;

#[aegis::service(name = "svc", version = "1.0.0", name = "other")]
impl S {}

fn main() {}
