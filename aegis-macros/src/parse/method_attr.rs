//! Finds and removes the handler attributes (`#[rpc]`, ...) on the methods of the impl block.

use syn::punctuated::Punctuated;

use crate::ctxt::Ctxt;
use crate::naming::{event_pattern_error, is_valid_method_name};
use crate::parse::{name_value_args, str_arg};
use crate::symbol::{
    BROADCAST, COMMAND, COMPETE, EXCLUSIVE_RPC, METHOD_ATTRIBUTES, MODE, NAME, RPC, SUBSCRIBE,
};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandlerKind {
    Rpc,
    ExclusiveRpc,
    Subscribe,
    Command,
}

impl HandlerKind {
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            HandlerKind::Rpc => RPC,
            HandlerKind::ExclusiveRpc => EXCLUSIVE_RPC,
            HandlerKind::Subscribe => SUBSCRIBE,
            HandlerKind::Command => COMMAND,
        }
    }
}

/// How the instances of a service share a subscription's events.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubscriptionMode {
    Compete,
    Broadcast,
}

/// `#[subscribe("pattern", mode = "...")]`, once the pattern is known.
pub(crate) struct SubscribeArgs {
    pub(crate) pattern: syn::LitStr,
    pub(crate) mode: SubscriptionMode,
}

pub(crate) struct MethodAttr {
    pub(crate) kind: HandlerKind,
    /// The attribute itself, for spans.
    pub(crate) attr: syn::Attribute,
    /// `name = "..."`, when given (`#[rpc]`, `#[exclusive_rpc]`, `#[command]`).
    pub(crate) name: Option<syn::LitStr>,
    /// The pattern and mode of a `#[subscribe]`; `None` when the pattern is missing (an error
    /// already reported).
    pub(crate) subscribe: Option<SubscribeArgs>,
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
        SUBSCRIBE => Some(HandlerKind::Subscribe),
        COMMAND => Some(HandlerKind::Command),
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
        subscribe: None,
    };
    if kind == HandlerKind::Subscribe {
        parsed.subscribe = parse_subscribe(cx, &parsed.attr);
    } else {
        parsed.name = parse_name(cx, kind, &parsed.attr);
    }
    parsed
}

/// `#[rpc]`, `#[rpc(name = "...")]`, and the same for `#[exclusive_rpc]` and `#[command]`.
fn parse_name(cx: &Ctxt, kind: HandlerKind, attr: &syn::Attribute) -> Option<syn::LitStr> {
    let attribute = kind.attribute();
    let tokens = match &attr.meta {
        syn::Meta::Path(_) => return None,
        syn::Meta::List(list) => list.tokens.clone(),
        syn::Meta::NameValue(nv) => {
            cx.error_spanned_by(
                nv,
                format!("use `#[{attribute}]` or `#[{attribute}(name = \"...\")]`"),
            );
            return None;
        }
    };
    let metas = match name_value_args(tokens) {
        Ok(metas) => metas,
        Err(error) => {
            cx.syn_error(error);
            return None;
        }
    };
    let mut name = None;
    for meta in metas {
        let arg = match str_arg(&meta, attribute, &[NAME]) {
            Ok(arg) => arg,
            Err((_, error)) => {
                cx.syn_error(error);
                continue;
            }
        };
        if name.is_some() {
            cx.error_spanned_by(
                &arg.key,
                format!("duplicate `#[{attribute}]` argument `name`"),
            );
        } else {
            if !is_valid_method_name(&arg.value.value()) {
                let what = if kind == HandlerKind::Command {
                    "command"
                } else {
                    "method"
                };
                cx.error_spanned_by(
                    &arg.value,
                    format!(
                        "invalid {what} name: use lowercase letters, digits and `_`, starting \
                         with a letter"
                    ),
                );
            }
            name = Some(arg.value);
        }
    }
    name
}

/// `#[subscribe("pattern")]`, `#[subscribe("pattern", mode = "compete" | "broadcast")]`.
fn parse_subscribe(cx: &Ctxt, attr: &syn::Attribute) -> Option<SubscribeArgs> {
    let usage = "use `#[subscribe(\"orders.created\")]` or \
                 `#[subscribe(\"orders.*\", mode = \"broadcast\")]`";
    let tokens = match &attr.meta {
        syn::Meta::List(list) => list.tokens.clone(),
        syn::Meta::Path(_) => {
            cx.error_spanned_by(
                attr,
                format!("`#[subscribe]` needs an event pattern: {usage}"),
            );
            return None;
        }
        syn::Meta::NameValue(nv) => {
            cx.error_spanned_by(nv, usage);
            return None;
        }
    };
    // Parsed as expressions: `"pattern"` is a literal, `mode = "..."` an assignment.
    let args = match syn::parse::Parser::parse2(
        Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated,
        tokens,
    ) {
        Ok(args) => args,
        Err(error) => {
            cx.syn_error(error);
            return None;
        }
    };
    let mut pattern: Option<syn::LitStr> = None;
    // A pattern that is not a string literal is reported as such, not also as missing.
    let mut pattern_given = false;
    let mut mode: Option<SubscriptionMode> = None;
    let mut mode_seen = false;
    for arg in args {
        let meta = match arg {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            }) => {
                if pattern_given {
                    cx.error_spanned_by(
                        &lit,
                        "`#[subscribe]` takes one pattern; subscribe another method to the \
                         other pattern",
                    );
                    continue;
                }
                if let Some(error) = event_pattern_error(&lit.value()) {
                    cx.error_spanned_by(&lit, error);
                }
                pattern = Some(lit);
                pattern_given = true;
                continue;
            }
            syn::Expr::Assign(assign) => match *assign.left {
                syn::Expr::Path(syn::ExprPath {
                    qself: None, path, ..
                }) => syn::Meta::NameValue(syn::MetaNameValue {
                    path,
                    eq_token: assign.eq_token,
                    value: *assign.right,
                }),
                left => {
                    cx.error_spanned_by(left, format!("unknown `#[subscribe]` argument; {usage}"));
                    continue;
                }
            },
            syn::Expr::Path(syn::ExprPath {
                qself: None, path, ..
            }) => syn::Meta::Path(path),
            other => {
                cx.error_spanned_by(
                    other,
                    format!("the event pattern must be a string literal: {usage}"),
                );
                pattern_given = true;
                continue;
            }
        };
        let arg = match str_arg(&meta, SUBSCRIBE, &[MODE]) {
            Ok(arg) => arg,
            Err((key, error)) => {
                cx.syn_error(error);
                mode_seen |= key.is_some();
                continue;
            }
        };
        if mode_seen {
            cx.error_spanned_by(&arg.key, "duplicate `#[subscribe]` argument `mode`");
            continue;
        }
        mode_seen = true;
        mode = match arg.value.value().as_str() {
            COMPETE => Some(SubscriptionMode::Compete),
            BROADCAST => Some(SubscriptionMode::Broadcast),
            other => {
                cx.error_spanned_by(
                    &arg.value,
                    format!(
                        "unknown subscription mode `{other}`, expected one of: `{COMPETE}` (each \
                         event to one instance of the service, the default), `{BROADCAST}` \
                         (each event to every instance)"
                    ),
                );
                None
            }
        };
    }
    let Some(pattern) = pattern else {
        if !pattern_given {
            cx.error_spanned_by(
                attr,
                format!("`#[subscribe]` needs an event pattern: {usage}"),
            );
        }
        return None;
    };
    Some(SubscribeArgs {
        pattern,
        mode: mode.unwrap_or(SubscriptionMode::Compete),
    })
}
