//! Placing files in layers. A pattern is a path relative to the source root (`backend.rs`)
//! or a directory with everything under it (`domain/**`).

/// Layers, lowest first: `(name, patterns)`.
pub type LayerTable<'a> = &'a [(&'a str, &'a [&'a str])];

fn matches(pattern: &str, file: &str) -> bool {
    match pattern.strip_suffix("/**") {
        Some(dir) => file
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/')),
        None => pattern == file,
    }
}

/// The indexes of the layers with a pattern matching `file`: exactly one when it is placed.
pub(crate) fn layers_of(file: &str, layers: LayerTable<'_>) -> Vec<usize> {
    layers
        .iter()
        .enumerate()
        .filter(|(_, (_, patterns))| patterns.iter().any(|p| matches(p, file)))
        .map(|(index, _)| index)
        .collect()
}
