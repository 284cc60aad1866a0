//! `#[service(crate = "...")]` with `aegis` renamed in Cargo.toml. A separate crate, because
//! Cargo allows one name per dependency and the main UI crate needs `aegis` as `aegis`.

#[test]
fn pass() {
    trybuild::TestCases::new().pass("tests/pass/*.rs");
}
