// `name` is required.
struct S;

#[aegis::service(version = "1.0.0")]
impl S {}

fn main() {}
