//! Finds and removes the handler attributes (`#[rpc]`, ...) on the methods of the impl block.

use crate::ctxt::Ctxt;
use crate::naming::is_valid_method_name;
use crate::parse::{name_value_args, str_arg};
use crate::symbol::{EXCLUSIVE_RPC, METHOD_ATTRIBUTES, NAME, RPC};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandlerKind {
    Rpc,
    ExclusiveRpc,
}

impl HandlerKind {
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            HandlerKind::Rpc => RPC,
            HandlerKind::ExclusiveRpc => EXCLUSIVE_RPC,
        }
    }
}

pub(crate) struct MethodAttr {
    pub(crate) kind: HandlerKind,
    /// The attribute itself, for spans.
    pub(crate) attr: syn::Attribute,
    /// `name = "..."`, when given.
    pub(crate) name: Option<syn::LitStr>,
}

fn handler_kind(attr: &syn::Attribute) -> Option<HandlerKind> {
    let last = attr.path().segments.last()?;
    let name = last.ident.to_string();
    if !METHOD_ATTRIBUTES.contains(&name.as_str()) {
        return None;
    }
    match name.as_str() {
        RPC => Some(HandlerKind::Rpc),
        EXCLUSIVE_RPC => Some(HandlerKind::ExclusiveRpc),
        _ => None,
    }
}

/// Removes every handler attribute from `attrs` and parses it. More than one on a method is an
/// error on the second.
pub(crate) fn take(cx: &Ctxt, attrs: &mut Vec<syn::Attribute>) -> Option<MethodAttr> {
    let mut found: Option<MethodAttr> = None;
    let mut kept = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        let Some(kind) = handler_kind(&attr) else {
            kept.push(attr);
            continue;
        };
        let parsed = parse_one(cx, kind, attr);
        if let Some(first) = &found {
            cx.error_spanned_by(
                &parsed.attr,
                format!(
                    "a method takes one handler attribute; it already has `#[{}]`",
                    first.kind.attribute()
                ),
            );
        } else {
            found = Some(parsed);
        }
    }
    *attrs = kept;
    found
}

fn parse_one(cx: &Ctxt, kind: HandlerKind, attr: syn::Attribute) -> MethodAttr {
    let mut parsed = MethodAttr {
        kind,
        attr,
        name: None,
    };
    let tokens = match &parsed.attr.meta {
        syn::Meta::Path(_) => return parsed,
        syn::Meta::List(list) => list.tokens.clone(),
        syn::Meta::NameValue(nv) => {
            cx.error_spanned_by(
                nv,
                format!("use `#[{0}]` or `#[{0}(name = \"...\")]`", kind.attribute()),
            );
            return parsed;
        }
    };
    let metas = match name_value_args(tokens) {
        Ok(metas) => metas,
        Err(error) => {
            cx.syn_error(error);
            return parsed;
        }
    };
    let attribute = kind.attribute();
    for meta in metas {
        let arg = match str_arg(&meta, attribute, &[NAME]) {
            Ok(arg) => arg,
            Err((_, error)) => {
                cx.syn_error(error);
                continue;
            }
        };
        if parsed.name.is_some() {
            cx.error_spanned_by(
                &arg.key,
                format!("duplicate `#[{attribute}]` argument `name`"),
            );
        } else {
            if !is_valid_method_name(&arg.value.value()) {
                cx.error_spanned_by(
                    &arg.value,
                    "invalid method name: use lowercase letters, digits and `_`, starting with a letter",
                );
            }
            parsed.name = Some(arg.value);
        }
    }
    parsed
}
