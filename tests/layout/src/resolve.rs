//! From a path as written in some module to the file that defines what it names,
//! following re-exports (`pub use`, grouped, renamed, glob) to the end.

use std::collections::HashSet;

use crate::modules::{ModPath, ModuleTable, UseLeaf, WrittenPath};

/// What a path lands on: a module, or an item (with anything after it: a variant, an
/// associated fn) in the file that declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Module(ModPath),
    Item { file: String },
}

/// The `(module, name)` lookups in progress: a re-export loop (`use super::*` both ways,
/// `use tracing;`) ends when it comes back to one instead of recursing forever.
type InProgress = HashSet<(ModPath, String)>;

impl ModuleTable {
    /// The file defining what `path`, written in `module`, names; `None` for paths outside
    /// the crate or that do not resolve.
    pub(crate) fn defining_file(&self, module: &ModPath, path: &WrittenPath) -> Option<String> {
        let in_progress = &mut InProgress::new();
        let absolute = self.absolute(module, path, in_progress)?;
        match self.resolve_absolute(&absolute, in_progress)? {
            Target::Module(found) => {
                let file = &self.modules.get(&found)?.file;
                (!file.is_empty()).then(|| file.clone())
            }
            Target::Item { file } => Some(file),
        }
    }

    /// `path` as segments from the crate root, or `None` if it leaves the crate.
    fn absolute(
        &self,
        module: &ModPath,
        path: &WrittenPath,
        in_progress: &mut InProgress,
    ) -> Option<ModPath> {
        let (first, rest) = path.segments.split_first()?;
        if path.leading_colon {
            return None;
        }
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" => Some([module.as_slice(), rest].concat()),
            "super" => {
                let supers = path.segments.iter().take_while(|s| *s == "super").count();
                let base = module.get(..module.len().checked_sub(supers)?)?;
                Some([base, &path.segments[supers..]].concat())
            }
            // A bare first name is relative to the module if the module has that name in scope;
            // otherwise it is an external crate (or a local we cannot see).
            name => self
                .lookup(module, name, in_progress)
                .map(|_| [module.as_slice(), &path.segments].concat()),
        }
    }

    fn resolve_absolute(
        &self,
        segments: &[String],
        in_progress: &mut InProgress,
    ) -> Option<Target> {
        let mut current = ModPath::new();
        for segment in segments {
            match self.lookup(&current, segment, in_progress)? {
                Target::Module(child) => current = child,
                item @ Target::Item { .. } => return Some(item),
            }
        }
        Some(Target::Module(current))
    }

    /// What `name` means inside `module`: a child module, a declared item, an import, a name
    /// from a glob import, or (at the root) an exported macro.
    fn lookup(&self, module: &ModPath, name: &str, in_progress: &mut InProgress) -> Option<Target> {
        let key = (module.clone(), name.to_owned());
        if !in_progress.insert(key.clone()) {
            return None;
        }
        let found = self.lookup_in_scope(module, name, in_progress);
        in_progress.remove(&key);
        found
    }

    fn lookup_in_scope(
        &self,
        module: &ModPath,
        name: &str,
        in_progress: &mut InProgress,
    ) -> Option<Target> {
        let scope = self.modules.get(module)?;
        if scope.children.contains(name) {
            return Some(Target::Module(
                [module.as_slice(), &[name.to_owned()]].concat(),
            ));
        }
        if scope.items.contains(name) {
            return Some(Target::Item {
                file: scope.file.clone(),
            });
        }
        let named = scope
            .imports
            .iter()
            .filter(|i| i.name.as_deref() == Some(name));
        let from_import = named
            .into_iter()
            .find_map(|import| self.resolve_import(module, import, in_progress));
        from_import
            .or_else(|| self.lookup_in_globs(module, name, in_progress))
            .or_else(|| self.exported_macro(module, name))
    }

    fn resolve_import(
        &self,
        module: &ModPath,
        import: &UseLeaf,
        in_progress: &mut InProgress,
    ) -> Option<Target> {
        let absolute = self.absolute(module, &import.path, in_progress)?;
        self.resolve_absolute(&absolute, in_progress)
    }

    fn lookup_in_globs(
        &self,
        module: &ModPath,
        name: &str,
        in_progress: &mut InProgress,
    ) -> Option<Target> {
        let scope = self.modules.get(module)?;
        scope
            .imports
            .iter()
            .filter(|import| import.name.is_none())
            .find_map(
                |glob| match self.resolve_import(module, glob, in_progress)? {
                    Target::Module(source) => self.lookup(&source, name, in_progress),
                    Target::Item { .. } => None,
                },
            )
    }

    fn exported_macro(&self, module: &ModPath, name: &str) -> Option<Target> {
        let file = self
            .exported_macros
            .get(name)
            .filter(|_| module.is_empty())?;
        Some(Target::Item { file: file.clone() })
    }
}
