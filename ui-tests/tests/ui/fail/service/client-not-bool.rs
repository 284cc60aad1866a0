// `client` takes `true` or `false`.
struct S;

#[aegis::service(name = "svc", version = "1.0.0", client = "no")]
impl S {}

struct T;

#[aegis::service(name = "svc", version = "1.0.0", client)]
impl T {}

fn main() {}
