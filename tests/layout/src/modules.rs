//! The crate's module tree: which file each module lives in, and the names each module
//! declares or imports. Resolution (`resolve.rs`) walks it.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::{Attribute, Ident, Item, ItemMod, Meta, UseTree};

/// A module path from the crate root: `[]` is the crate, `["events", "call"]` is
/// `crate::events::call`.
pub(crate) type ModPath = Vec<String>;

/// A path as written in the source, before resolution: it may start with `crate`, `self`,
/// `super`, a name in scope, or (with `leading_colon`) an external crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WrittenPath {
    pub(crate) segments: Vec<String>,
    pub(crate) leading_colon: bool,
}

/// One leaf of a `use` tree: `use a::{b as c, d::*}` has two.
#[derive(Debug, Clone)]
pub(crate) struct UseLeaf {
    pub(crate) path: WrittenPath,
    /// The name it brings into scope; `None` for a glob.
    pub(crate) name: Option<String>,
    pub(crate) line: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Module {
    pub(crate) file: String,
    pub(crate) children: HashSet<String>,
    /// Structs, enums, fns, consts, statics, traits, types, macros declared here.
    pub(crate) items: HashSet<String>,
    pub(crate) imports: Vec<UseLeaf>,
}

#[derive(Debug, Default)]
pub(crate) struct ModuleTable {
    pub(crate) modules: HashMap<ModPath, Module>,
    /// `#[macro_export]` macros live at the crate root, whatever file declares them.
    pub(crate) exported_macros: HashMap<String, String>,
}

/// `lib.rs` is the crate, `a/b.rs` and `a/b/mod.rs` are `crate::a::b`.
pub(crate) fn module_path_of_file(file: &str) -> ModPath {
    let without_ext = file.strip_suffix(".rs").unwrap_or(file);
    let mut segments: Vec<String> = without_ext.split('/').map(str::to_owned).collect();
    if matches!(
        segments.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        segments.pop();
    }
    segments
}

impl ModuleTable {
    /// Records a parsed file as the module its path names, with its inline modules.
    pub(crate) fn add_file(&mut self, file: &str, ast: &syn::File) {
        let path = module_path_of_file(file);
        if let Some((name, parent)) = path.split_last() {
            // The parent's own file, if any, sets its `file` when it is added.
            let parent = self.modules.entry(parent.to_vec()).or_default();
            parent.children.insert(name.clone());
        }
        self.module_mut(&path, file).file = file.to_owned();
        self.add_items(&path, file, &ast.items);
    }

    fn module_mut(&mut self, path: &[String], file: &str) -> &mut Module {
        self.modules.entry(path.to_vec()).or_insert_with(|| Module {
            file: file.to_owned(),
            ..Module::default()
        })
    }

    fn add_items(&mut self, module: &ModPath, file: &str, items: &[Item]) {
        for item in items.iter().filter(|item| !is_test_only(item_attrs(item))) {
            self.add_item(module, file, item);
        }
    }

    fn add_item(&mut self, module: &ModPath, file: &str, item: &Item) {
        match item {
            Item::Mod(inner) => self.add_child_module(module, file, inner),
            Item::Use(use_item) => {
                let leaves = use_leaves(&use_item.tree, use_item.leading_colon.is_some());
                self.module_mut(module, file).imports.extend(leaves);
            }
            _ => self.add_declaration(module, file, item),
        }
    }

    fn add_child_module(&mut self, module: &ModPath, file: &str, inner: &ItemMod) {
        let name = inner.ident.to_string();
        self.module_mut(module, file).children.insert(name.clone());
        if let Some((_, items)) = &inner.content {
            let child = [module.as_slice(), &[name]].concat();
            self.module_mut(&child, file);
            self.add_items(&child, file, items);
        }
    }

    fn add_declaration(&mut self, module: &ModPath, file: &str, item: &Item) {
        if let Item::Macro(mac) = item
            && let Some(ident) = &mac.ident
            && mac.attrs.iter().any(|a| a.path().is_ident("macro_export"))
        {
            self.exported_macros
                .insert(ident.to_string(), file.to_owned());
        }
        if let Some(name) = declared_name(item) {
            self.module_mut(module, file).items.insert(name);
        }
    }
}

/// The name a non-module, non-`use` item declares.
fn declared_name(item: &Item) -> Option<String> {
    let ident = match item {
        Item::Const(i) => &i.ident,
        Item::Enum(i) => &i.ident,
        Item::Fn(i) => &i.sig.ident,
        Item::Macro(i) => i.ident.as_ref()?,
        Item::Static(i) => &i.ident,
        Item::Struct(i) => &i.ident,
        Item::Trait(i) => &i.ident,
        Item::TraitAlias(i) => &i.ident,
        Item::Type(i) => &i.ident,
        Item::Union(i) => &i.ident,
        _ => return None,
    };
    Some(ident.to_string())
}

/// Every leaf of a `use` tree, as a full path and the name it binds.
pub(crate) fn use_leaves(tree: &UseTree, leading_colon: bool) -> Vec<UseLeaf> {
    let mut leaves = Vec::new();
    collect_use_leaves(tree, &mut Vec::new(), leading_colon, &mut leaves);
    leaves
}

fn collect_use_leaves(
    tree: &UseTree,
    prefix: &mut Vec<String>,
    leading_colon: bool,
    leaves: &mut Vec<UseLeaf>,
) {
    match tree {
        UseTree::Path(path) => {
            prefix.push(path.ident.to_string());
            collect_use_leaves(&path.tree, prefix, leading_colon, leaves);
            prefix.pop();
        }
        UseTree::Name(name) => leaves.push(named_leaf(prefix, &name.ident, None, leading_colon)),
        UseTree::Rename(rename) => leaves.push(named_leaf(
            prefix,
            &rename.ident,
            Some(&rename.rename),
            leading_colon,
        )),
        UseTree::Glob(glob) => leaves.push(UseLeaf {
            path: WrittenPath {
                segments: prefix.clone(),
                leading_colon,
            },
            name: None,
            line: line_of(glob.star_token.spans[0]),
        }),
        UseTree::Group(group) => {
            for tree in &group.items {
                collect_use_leaves(tree, prefix, leading_colon, leaves);
            }
        }
    }
}

fn named_leaf(
    prefix: &[String],
    ident: &Ident,
    rename: Option<&Ident>,
    leading_colon: bool,
) -> UseLeaf {
    let mut segments = prefix.to_vec();
    // `use a::{self}` names `a` itself.
    if ident != "self" {
        segments.push(ident.to_string());
    }
    let name = rename
        .map(ToString::to_string)
        .or_else(|| segments.last().cloned());
    UseLeaf {
        path: WrittenPath {
            segments,
            leading_colon,
        },
        name,
        line: line_of(ident.span()),
    }
}

pub(crate) fn line_of(span: Span) -> usize {
    span.start().line
}

pub(crate) fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// `#[cfg(test)]` or `#[cfg(all(test, ...))]`: code that only tests compile, which may
/// import anything.
pub(crate) fn is_test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| match &attr.meta {
        Meta::List(list) if list.path.is_ident("cfg") => cfg_requires_test(list.tokens.clone()),
        _ => false,
    })
}

fn cfg_requires_test(predicate: TokenStream) -> bool {
    let tokens: Vec<TokenTree> = predicate.into_iter().collect();
    match tokens.as_slice() {
        [TokenTree::Ident(ident)] => ident == "test",
        [TokenTree::Ident(ident), TokenTree::Group(args)] if ident == "all" => {
            split_on_commas(args.stream())
                .into_iter()
                .any(cfg_requires_test)
        }
        _ => false,
    }
}

fn split_on_commas(stream: TokenStream) -> Vec<TokenStream> {
    let mut parts = vec![TokenStream::new()];
    for token in stream {
        match &token {
            TokenTree::Punct(punct) if punct.as_char() == ',' => parts.push(TokenStream::new()),
            _ => parts
                .last_mut()
                .expect("parts starts non-empty")
                .extend([token]),
        }
    }
    parts
}

/// Files of out-of-line modules declared `#[cfg(test)] mod x;`, as module paths.
pub(crate) fn test_only_modules(file: &str, ast: &syn::File) -> Vec<ModPath> {
    let mut found = Vec::new();
    collect_test_only_modules(&module_path_of_file(file), &ast.items, &mut found);
    found
}

fn collect_test_only_modules(module: &ModPath, items: &[Item], found: &mut Vec<ModPath>) {
    for item in items {
        let Item::Mod(inner) = item else { continue };
        let child = [module.as_slice(), &[inner.ident.to_string()]].concat();
        if is_test_only(&inner.attrs) {
            found.push(child);
        } else if let Some((_, items)) = &inner.content {
            collect_test_only_modules(&child, items, found);
        }
    }
}
