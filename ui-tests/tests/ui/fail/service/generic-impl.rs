// Generic impl blocks cannot be services.
struct S<T>(T);

#[aegis::service(name = "svc", version = "1.0.0")]
impl<T: Send + Sync + 'static> S<T> {}

fn main() {}
