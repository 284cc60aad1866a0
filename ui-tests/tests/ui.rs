//! Compile-time behaviour of the aegis macros.
//!
//! Bless after an intended change: `TRYBUILD=overwrite cargo test -p aegis-ui-tests`, then
//! read the `.stderr` diff before committing it.

#[test]
fn pass() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
}

#[test]
fn fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*/*.rs");
}
