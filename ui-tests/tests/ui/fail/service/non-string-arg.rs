// Arguments take string literals.
struct S;

#[aegis::service(name = svc, version = "1.0.0")]
impl S {}

fn main() {}
