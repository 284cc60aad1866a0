//! The file graph: strongly connected components (Tarjan) and one concrete cycle per
//! component.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// `from` refers, first at `from:line`, to something defined in `to`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub line: usize,
}

#[derive(Debug, Default)]
pub(crate) struct FileGraph {
    /// `from -> to -> edge`, sorted so that reports are stable.
    edges: BTreeMap<String, BTreeMap<String, Edge>>,
}

impl FileGraph {
    pub(crate) fn add_file(&mut self, file: &str) {
        self.edges.entry(file.to_owned()).or_default();
    }

    /// Keeps the first line per `(from, to)`; drops self-edges.
    pub(crate) fn add_edge(&mut self, edge: Edge) {
        if edge.from == edge.to {
            return;
        }
        self.add_file(&edge.to);
        let targets = self.edges.entry(edge.from.clone()).or_default();
        let kept = targets
            .entry(edge.to.clone())
            .or_insert_with(|| edge.clone());
        kept.line = kept.line.min(edge.line);
    }

    pub(crate) fn files(&self) -> impl Iterator<Item = &String> {
        self.edges.keys()
    }

    pub(crate) fn edges(&self) -> impl Iterator<Item = &Edge> {
        self.edges.values().flat_map(BTreeMap::values)
    }

    fn successors<'a>(&'a self, file: &str) -> impl Iterator<Item = &'a Edge> {
        self.edges.get(file).into_iter().flat_map(BTreeMap::values)
    }

    /// Components of more than one file, each sorted.
    pub(crate) fn cyclic_components(&self) -> Vec<Vec<String>> {
        let mut tarjan = Tarjan::default();
        for file in self.edges.keys() {
            if !tarjan.index.contains_key(file.as_str()) {
                tarjan.visit(self, file);
            }
        }
        tarjan
            .components
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|mut component| {
                component.sort();
                component
            })
            .collect()
    }

    /// A shortest cycle through the component's first file, staying inside the component.
    pub(crate) fn cycle_through(&self, component: &[String]) -> Vec<Edge> {
        let members: BTreeSet<&str> = component.iter().map(String::as_str).collect();
        let start = component[0].as_str();
        let mut reached_by: HashMap<&str, &Edge> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(file) = queue.pop_front() {
            for edge in self
                .successors(file)
                .filter(|e| members.contains(e.to.as_str()))
            {
                if edge.to == start {
                    return path_back(&reached_by, edge, start);
                }
                if !reached_by.contains_key(edge.to.as_str()) {
                    reached_by.insert(&edge.to, edge);
                    queue.push_back(&edge.to);
                }
            }
        }
        Vec::new()
    }
}

/// The edges from `start` to `last.from` (by breadth-first parents), then `last`.
fn path_back(reached_by: &HashMap<&str, &Edge>, last: &Edge, start: &str) -> Vec<Edge> {
    let mut path = vec![last.clone()];
    let mut file = last.from.as_str();
    while file != start {
        let edge = reached_by[file];
        path.push(edge.clone());
        file = &edge.from;
    }
    path.reverse();
    path
}

#[derive(Default)]
struct Tarjan<'g> {
    index: HashMap<&'g str, usize>,
    low_link: HashMap<&'g str, usize>,
    stack: Vec<&'g str>,
    on_stack: BTreeSet<&'g str>,
    components: Vec<Vec<String>>,
}

impl<'g> Tarjan<'g> {
    fn visit(&mut self, graph: &'g FileGraph, file: &'g str) {
        let index = self.index.len();
        self.index.insert(file, index);
        self.low_link.insert(file, index);
        self.stack.push(file);
        self.on_stack.insert(file);
        for edge in graph.successors(file) {
            let next = edge.to.as_str();
            if !self.index.contains_key(next) {
                self.visit(graph, next);
                self.lower_link(file, self.low_link[next]);
            } else if self.on_stack.contains(next) {
                self.lower_link(file, self.index[next]);
            }
        }
        if self.low_link[file] == index {
            self.pop_component(file);
        }
    }

    fn lower_link(&mut self, file: &'g str, candidate: usize) {
        let link = self
            .low_link
            .get_mut(file)
            .expect("visited files have a low link");
        *link = (*link).min(candidate);
    }

    fn pop_component(&mut self, root: &str) {
        let mut component = Vec::new();
        while let Some(file) = self.stack.pop() {
            self.on_stack.remove(file);
            component.push(file.to_owned());
            if file == root {
                break;
            }
        }
        self.components.push(component);
    }
}
