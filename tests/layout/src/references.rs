//! Every path a file writes that may name another module of the crate: `use` trees, paths in
//! code and types, and `a::b` token runs inside macro calls (`format!`, `tracing::info!`).

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};

use crate::modules::{self, ModPath, WrittenPath, is_test_only, line_of, module_path_of_file};

/// A path written at `line` inside `module` (an inline module has its own).
#[derive(Debug)]
pub(crate) struct Reference {
    pub(crate) module: ModPath,
    pub(crate) path: WrittenPath,
    pub(crate) line: usize,
}

pub(crate) fn references_in(file: &str, ast: &syn::File) -> Vec<Reference> {
    let mut collector = Collector {
        module: module_path_of_file(file),
        found: Vec::new(),
    };
    collector.visit_file(ast);
    collector.found
}

struct Collector {
    module: ModPath,
    found: Vec<Reference>,
}

impl Collector {
    fn record(&mut self, path: WrittenPath, line: usize) {
        self.found.push(Reference {
            module: self.module.clone(),
            path,
            line,
        });
    }

    fn record_paths_in_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        for (start, token) in tokens.iter().enumerate() {
            if let TokenTree::Group(group) = token {
                self.record_paths_in_tokens(group.stream());
            } else if let Some((path, line)) = path_starting_at(&tokens, start) {
                self.record(path, line);
            }
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if is_test_only(modules::item_attrs(item)) {
            return;
        }
        let syn::Item::Mod(
            inline @ syn::ItemMod {
                content: Some(_), ..
            },
        ) = item
        else {
            return visit::visit_item(self, item);
        };
        self.module.push(inline.ident.to_string());
        visit::visit_item_mod(self, inline);
        self.module.pop();
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            syn::ImplItem::Macro(i) => &i.attrs,
            _ => return visit::visit_impl_item(self, item),
        };
        if !is_test_only(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        for leaf in modules::use_leaves(&item.tree, item.leading_colon.is_some()) {
            self.record(leaf.path, leaf.line);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        // One segment is a local, a generic or an imported name; the `use` already counted.
        if let Some(first) = path.segments.first().filter(|_| path.segments.len() > 1) {
            let written = WrittenPath {
                segments: path.segments.iter().map(|s| s.ident.to_string()).collect(),
                leading_colon: path.leading_colon.is_some(),
            };
            self.record(written, line_of(first.ident.span()));
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.record_paths_in_tokens(mac.tokens.clone());
        visit::visit_macro(self, mac);
    }
}

/// `a::b::c` starting at `tokens[start]`, if a path of at least two names starts there (not
/// in the middle of one, and not `$crate::...`, which belongs to the macro's caller).
fn path_starting_at(tokens: &[TokenTree], start: usize) -> Option<(WrittenPath, usize)> {
    let TokenTree::Ident(first) = &tokens[start] else {
        return None;
    };
    let before = start.checked_sub(1).map(|i| &tokens[i]);
    if matches!(before, Some(TokenTree::Punct(p)) if matches!(p.as_char(), '$' | ':')) {
        return None;
    }
    let mut segments = vec![first.to_string()];
    let mut next = start + 1;
    while let (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(name))) =
        (tokens.get(next), tokens.get(next + 1), tokens.get(next + 2))
    {
        if a.as_char() != ':' || b.as_char() != ':' {
            break;
        }
        segments.push(name.to_string());
        next += 3;
    }
    let path = WrittenPath {
        segments,
        leading_colon: false,
    };
    (path.segments.len() > 1).then(|| (path, line_of(first.span())))
}
