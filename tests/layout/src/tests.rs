//! The checker on small synthetic trees, so that it is known to fail when it should.

use super::*;

fn tree(files: &[(&str, &str)]) -> Vec<SourceFile> {
    files
        .iter()
        .map(|(path, source)| SourceFile::new(path, source))
        .collect()
}

/// `(from, to)` for every edge.
fn edges(files: &[(&str, &str)]) -> Vec<(String, String)> {
    file_edges(&tree(files))
        .expect("synthetic tree parses")
        .into_iter()
        .map(|edge| (edge.from, edge.to))
        .collect()
}

fn edge(from: &str, to: &str) -> (String, String) {
    (from.to_owned(), to.to_owned())
}

fn problems(files: &[(&str, &str)], layers: LayerTable<'_>) -> Vec<Problem> {
    check_layout(&tree(files), layers).expect("synthetic tree parses")
}

const ONE_LAYER: LayerTable<'static> = &[("all", &["lib.rs", "a.rs", "b.rs", "c.rs", "b/**"])];

#[test]
fn a_three_file_use_cycle_is_reported_with_its_path() {
    let files = [
        ("lib.rs", "mod a; mod b; mod c;"),
        ("a.rs", "use crate::b::B;\npub struct A;"),
        ("b.rs", "\nuse crate::c::C;\npub struct B;"),
        ("c.rs", "pub struct C;\nuse crate::a::A;"),
    ];
    let cycle = |from: &str, line, to: &str| Edge {
        from: from.to_owned(),
        to: to.to_owned(),
        line,
    };
    let expected = Problem::Cycle {
        files: vec!["a.rs".into(), "b.rs".into(), "c.rs".into()],
        path: vec![
            cycle("a.rs", 1, "b.rs"),
            cycle("b.rs", 2, "c.rs"),
            cycle("c.rs", 2, "a.rs"),
        ],
    };
    let found = problems(&files, ONE_LAYER);
    assert_eq!(found, [expected]);
    let text = render(&found);
    assert!(
        text.contains("cycle among 3 files: a.rs, b.rs, c.rs"),
        "{text}"
    );
    assert!(text.contains("b.rs:2 -> c.rs"), "{text}");
}

#[test]
fn an_inline_crate_path_in_an_expression_counts() {
    let files = [
        ("lib.rs", "mod a; mod b;"),
        ("a.rs", "pub fn f() -> u32 { crate::b::X + 1 }"),
        ("b.rs", "pub const X: u32 = 1;"),
    ];
    assert_eq!(edges(&files), [edge("a.rs", "b.rs")]);
}

#[test]
fn inline_paths_in_types_and_macro_calls_count() {
    let files = [
        ("lib.rs", "mod a; mod b; mod c;"),
        ("a.rs", "pub fn f(_: crate::b::B) {}"),
        (
            "b.rs",
            r#"pub struct B; fn g() { println!("{}", crate::c::X); }"#,
        ),
        ("c.rs", "pub const X: u32 = 1;"),
    ];
    assert_eq!(edges(&files), [edge("a.rs", "b.rs"), edge("b.rs", "c.rs")]);
}

#[test]
fn a_super_import_counts() {
    let files = [
        ("lib.rs", "mod a;"),
        ("a/mod.rs", "mod child; pub struct Top;"),
        ("a/child.rs", "use super::Top;"),
    ];
    assert_eq!(edges(&files), [edge("a/child.rs", "a/mod.rs")]);
}

#[test]
fn an_inline_super_path_counts() {
    let files = [
        ("lib.rs", "mod a;"),
        ("a/mod.rs", "mod child; pub fn top() {}"),
        ("a/child.rs", "fn f() { super::top() }"),
    ];
    assert_eq!(edges(&files), [edge("a/child.rs", "a/mod.rs")]);
}

#[test]
fn a_re_export_is_followed_to_the_defining_file() {
    let re_exports = [
        "pub use self::c::C;",
        "pub(crate) use crate::b::c::C;",
        "pub use c::C;",
        "pub use self::{c::C, d::D};",
        "pub use c::*;",
        "pub use c::Original as C;",
        "mod inner { pub use super::c::C; } pub use inner::C;",
    ];
    for re_export in re_exports {
        let b_mod = format!("mod c; mod d; {re_export}");
        let files = [
            ("lib.rs", "mod a; mod b;"),
            ("a.rs", "use crate::b::C;"),
            ("b/mod.rs", b_mod.as_str()),
            ("b/c.rs", "pub struct C; pub struct Original;"),
            ("b/d.rs", "pub struct D;"),
        ];
        let found = edges(&files);
        assert!(
            found.contains(&edge("a.rs", "b/c.rs")),
            "{re_export}: {found:?}"
        );
        assert!(
            !found.contains(&edge("a.rs", "b/mod.rs")),
            "{re_export}: {found:?}"
        );
    }
}

#[test]
fn a_chain_of_re_exports_through_the_crate_root_is_followed() {
    let files = [
        (
            "lib.rs",
            "mod a; mod b; pub mod face { pub use crate::b::*; } pub use b::B;",
        ),
        (
            "a.rs",
            "use crate::B; fn f() -> crate::face::B { crate::face::B }",
        ),
        ("b.rs", "pub struct B;"),
    ];
    assert_eq!(
        edges(&files),
        [edge("a.rs", "b.rs"), edge("lib.rs", "b.rs")]
    );
}

#[test]
fn a_reference_to_a_module_is_an_edge_to_its_file() {
    let files = [
        ("lib.rs", "mod a; mod b;"),
        ("a.rs", "use crate::b; fn f() { b::g() }"),
        ("b/mod.rs", "mod inner; pub fn g() {}"),
        ("b/inner.rs", ""),
    ];
    assert_eq!(edges(&files), [edge("a.rs", "b/mod.rs")]);
}

#[test]
fn an_upward_edge_is_reported() {
    let layers: LayerTable<'_> = &[("low", &["low.rs", "lib.rs"]), ("high", &["high.rs"])];
    let files = [
        ("lib.rs", "mod low; mod high;"),
        ("low.rs", "pub struct L;\nuse crate::high::H;"),
        ("high.rs", "use crate::low::L; pub struct H;"),
    ];
    let found: Vec<Problem> = problems(&files, layers)
        .into_iter()
        .filter(|p| matches!(p, Problem::Upward { .. }))
        .collect();
    let expected = Problem::Upward {
        edge: Edge {
            from: "low.rs".into(),
            to: "high.rs".into(),
            line: 2,
        },
        from_layer: "low".into(),
        to_layer: "high".into(),
    };
    assert_eq!(found, [expected]);
    assert!(
        render(&found).contains("from low.rs:2 -> to high.rs (layer low < layer high)"),
        "{}",
        render(&found)
    );
}

#[test]
fn cfg_test_code_is_ignored() {
    let files = [
        ("lib.rs", "mod a; mod b;"),
        ("a.rs", "#[cfg(test)]\nmod tests { use crate::b::*; }"),
        (
            "b.rs",
            "#[cfg(all(test, unix))] mod tests; #[cfg(test)] use crate::a::*;",
        ),
        ("b/tests.rs", "use crate::a::*;"),
    ];
    assert_eq!(edges(&files), []);
}

#[test]
fn an_unmatched_file_is_reported() {
    let files = [("lib.rs", "mod a; mod new;"), ("a.rs", ""), ("new.rs", "")];
    let found = problems(&files, ONE_LAYER);
    assert_eq!(
        found,
        [Problem::Unplaced {
            file: "new.rs".into()
        }]
    );
}

#[test]
fn a_file_in_two_layers_is_reported() {
    let layers: LayerTable<'_> = &[("low", &["lib.rs", "b/**"]), ("high", &["b/c.rs"])];
    let files = [("lib.rs", "mod b;"), ("b/c.rs", "")];
    assert_eq!(
        problems(&files, layers),
        [Problem::InSeveralLayers {
            file: "b/c.rs".into(),
            layers: vec!["low".into(), "high".into()],
        }]
    );
}

#[test]
fn paths_into_external_crates_are_ignored() {
    let files = [
        ("lib.rs", "mod a; pub mod private { pub use ::serde; }"),
        (
            "a.rs",
            "use crate::private::serde::Serialize; use std::fmt; use serde as s;",
        ),
    ];
    assert_eq!(edges(&files), []);
}

#[test]
fn exported_macros_live_at_the_crate_root() {
    let files = [
        ("lib.rs", "mod a; mod m;"),
        ("a.rs", "fn f() { crate::made!(); }"),
        (
            "m.rs",
            "#[macro_export] macro_rules! made { () => { $crate::a::f() }; }",
        ),
    ];
    assert_eq!(edges(&files), [edge("a.rs", "m.rs")]);
}
