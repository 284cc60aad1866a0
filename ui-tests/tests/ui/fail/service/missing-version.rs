// `version` is required.
struct S;

#[aegis::service(name = "svc")]
impl S {}

fn main() {}
