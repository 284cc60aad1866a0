// Service names are lowercase, digits and `-`.
struct S;

#[aegis::service(name = "Order_Service", version = "1.0.0")]
impl S {}

fn main() {}
