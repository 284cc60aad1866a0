// `#[service]` needs an inherent impl, not a trait impl.
struct S;

#[aegis::service(name = "svc", version = "1.0.0")]
impl Clone for S {
    fn clone(&self) -> Self {
        S
    }
}

fn main() {}
