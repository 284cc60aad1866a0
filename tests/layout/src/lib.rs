//! Keeps a crate's file layout honest: no import cycle between its files, and no file
//! importing from a higher layer.
//!
//! Every file of the source tree is mapped to its module; every path it writes that names
//! something of the crate (`use` trees, paths in code, types and macro calls) is resolved,
//! through re-exports, to the file that defines the item. Those are the edges of the file
//! graph. `#[cfg(test)]` code is left out: tests may import anything.
//!
//! A `pub use` is an import too, of the re-exporting file: a `mod.rs` that re-exports its
//! children and defines something they use is in a cycle with them. A glob import is an
//! edge to the module it reads from; `mod x;` declarations are not edges.

mod graph;
mod layers;
mod modules;
mod references;
mod resolve;

use std::fmt;
use std::path::Path;
use std::{fs, io};

pub use graph::Edge;
pub use layers::LayerTable;

use graph::FileGraph;
use modules::{ModPath, ModuleTable, module_path_of_file, test_only_modules};
use references::references_in;

/// A source file: `path` relative to the source root, with `/` separators (`events/call.rs`).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub source: String,
}

impl SourceFile {
    /// A file from its path and text; the unit tests build whole trees in memory this way.
    pub fn new(path: &str, source: &str) -> Self {
        SourceFile {
            path: path.to_owned(),
            source: source.to_owned(),
        }
    }
}

/// A file that does not parse.
#[derive(Debug)]
pub struct ParseError {
    pub file: String,
    pub error: syn::Error,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} does not parse: {}", self.file, self.error)
    }
}

impl std::error::Error for ParseError {}

/// What is wrong with the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Files that import each other, and one cycle through them.
    Cycle { files: Vec<String>, path: Vec<Edge> },
    /// An import from a lower layer to a higher one.
    Upward {
        edge: Edge,
        from_layer: String,
        to_layer: String,
    },
    /// A file no layer's pattern matches.
    Unplaced { file: String },
    /// A file patterns of several layers match.
    InSeveralLayers { file: String, layers: Vec<String> },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Cycle { files, path } => {
                writeln!(f, "cycle among {} files: {}", files.len(), files.join(", "))?;
                for edge in path {
                    writeln!(f, "    {}:{} -> {}", edge.from, edge.line, edge.to)?;
                }
                Ok(())
            }
            Problem::Upward {
                edge,
                from_layer,
                to_layer,
            } => writeln!(
                f,
                "upward: from {}:{} -> to {} (layer {from_layer} < layer {to_layer})",
                edge.from, edge.line, edge.to
            ),
            Problem::Unplaced { file } => writeln!(f, "unplaced: {file} matches no layer"),
            Problem::InSeveralLayers { file, layers } => {
                writeln!(f, "ambiguous: {file} matches layers {}", layers.join(", "))
            }
        }
    }
}

/// All problems, one after the other, under a count.
pub fn render(problems: &[Problem]) -> String {
    let mut text = format!("{} layout problem(s):\n", problems.len());
    for problem in problems {
        text.push_str(&problem.to_string());
    }
    text
}

/// Every `.rs` file under `root`, sorted by path.
pub fn read_sources(root: &Path) -> io::Result<Vec<SourceFile>> {
    let mut files = Vec::new();
    read_dir_into(root, root, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn read_dir_into(root: &Path, dir: &Path, files: &mut Vec<SourceFile>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            read_dir_into(root, &path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path.strip_prefix(root).expect("read_dir stays under root");
            let relative: Vec<_> = relative.iter().map(|part| part.to_string_lossy()).collect();
            files.push(SourceFile {
                path: relative.join("/"),
                source: fs::read_to_string(&path)?,
            });
        }
    }
    Ok(())
}

/// The file graph's edges, sorted: `from` refers to an item `to` defines.
pub fn file_edges(files: &[SourceFile]) -> Result<Vec<Edge>, ParseError> {
    Ok(build_graph(files)?.edges().cloned().collect())
}

/// Cycles, upward edges and misplaced files; empty when the layout is sound.
pub fn check_layout(
    files: &[SourceFile],
    layers: LayerTable<'_>,
) -> Result<Vec<Problem>, ParseError> {
    let graph = build_graph(files)?;
    let mut problems = Vec::new();
    let mut layer_of = std::collections::HashMap::new();
    for file in graph.files() {
        match layers::layers_of(file, layers).as_slice() {
            [] => problems.push(Problem::Unplaced { file: file.clone() }),
            [layer] => {
                layer_of.insert(file.clone(), *layer);
            }
            several => problems.push(Problem::InSeveralLayers {
                file: file.clone(),
                layers: several.iter().map(|&i| layers[i].0.to_owned()).collect(),
            }),
        }
    }
    for files in graph.cyclic_components() {
        let path = graph.cycle_through(&files);
        problems.push(Problem::Cycle { files, path });
    }
    for edge in graph.edges() {
        if let (Some(&from), Some(&to)) = (layer_of.get(&edge.from), layer_of.get(&edge.to))
            && from < to
        {
            problems.push(Problem::Upward {
                edge: edge.clone(),
                from_layer: layers[from].0.to_owned(),
                to_layer: layers[to].0.to_owned(),
            });
        }
    }
    Ok(problems)
}

struct ParsedFile {
    path: String,
    ast: syn::File,
}

fn build_graph(files: &[SourceFile]) -> Result<FileGraph, ParseError> {
    let parsed = without_test_only_files(parse_all(files)?);
    let mut table = ModuleTable::default();
    for file in &parsed {
        table.add_file(&file.path, &file.ast);
    }
    let mut graph = FileGraph::default();
    for file in &parsed {
        graph.add_file(&file.path);
        for reference in references_in(&file.path, &file.ast) {
            if let Some(to) = table.defining_file(&reference.module, &reference.path) {
                graph.add_edge(Edge {
                    from: file.path.clone(),
                    to,
                    line: reference.line,
                });
            }
        }
    }
    Ok(graph)
}

fn parse_all(files: &[SourceFile]) -> Result<Vec<ParsedFile>, ParseError> {
    files
        .iter()
        .map(|file| {
            let ast = syn::parse_file(&file.source).map_err(|error| ParseError {
                file: file.path.clone(),
                error,
            })?;
            Ok(ParsedFile {
                path: file.path.clone(),
                ast,
            })
        })
        .collect()
}

/// Drops the files of `#[cfg(test)] mod x;` modules and everything under them.
fn without_test_only_files(parsed: Vec<ParsedFile>) -> Vec<ParsedFile> {
    let test_only: Vec<ModPath> = parsed
        .iter()
        .flat_map(|file| test_only_modules(&file.path, &file.ast))
        .collect();
    parsed
        .into_iter()
        .filter(|file| {
            let module = module_path_of_file(&file.path);
            !test_only.iter().any(|test| module.starts_with(test))
        })
        .collect()
}

#[cfg(test)]
mod tests;
