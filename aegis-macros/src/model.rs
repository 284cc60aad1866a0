//! The validated model of a `#[service]` impl block, with the user's tokens kept for spans.

use proc_macro2::Span;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::krate::CratePath;
use crate::naming::is_valid_method_name;
use crate::parse::method_attr::{HandlerKind, MethodAttr, SubscriptionMode};

pub(crate) struct Service {
    pub(crate) item: syn::ItemImpl,
    pub(crate) type_ident: syn::Ident,
    pub(crate) name: String,
    pub(crate) version: String,
    /// `description = "..."`, else the first paragraph of the impl's doc comment.
    pub(crate) description: String,
    pub(crate) krate: CratePath,
    /// Whether to generate `{Type}Client` (`#[service(client = false)]`: not).
    pub(crate) client: bool,
    pub(crate) handlers: Vec<Handler>,
}

pub(crate) struct Handler {
    pub(crate) kind: HandlerKind,
    pub(crate) ident: syn::Ident,
    /// The method or command name on the wire; for `#[subscribe]`, the handler's name (its
    /// method name), which names its durable consumer.
    pub(crate) wire_name: String,
    /// Where the wire name came from (the `name = "..."` literal, else the method name).
    pub(crate) name_span: Span,
    /// `#[cfg]`, `#[doc]` and `#[deprecated]`, copied onto generated items.
    pub(crate) cfgs: Vec<syn::Attribute>,
    pub(crate) docs: Vec<syn::Attribute>,
    /// `&self` excluded. For `#[subscribe]`, exactly one `Payload`: the event.
    pub(crate) args: Vec<Arg>,
    pub(crate) output: syn::ReturnType,
    /// The return type is written `Result<..>` (see [`is_fallible`]); else it is the value.
    pub(crate) fallible: bool,
    /// `#[subscribe]` handlers only.
    pub(crate) subscription: Option<Subscription>,
}

pub(crate) enum Arg {
    /// `&RequestContext` for rpc methods, `&CommandContext` for commands.
    Context,
    Payload(Box<syn::Type>),
}

/// What a `#[subscribe]` handler listens to.
pub(crate) struct Subscription {
    /// The validated pattern after `events.`.
    pub(crate) pattern: String,
    pub(crate) mode: SubscriptionMode,
}

/// The kind of context argument a handler takes, if any.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ContextKind {
    Request,
    Command,
}

impl ContextKind {
    fn type_name(self) -> &'static str {
        match self {
            ContextKind::Request => "RequestContext",
            ContextKind::Command => "CommandContext",
        }
    }
}

impl Handler {
    pub(crate) fn payload(&self) -> Option<&syn::Type> {
        self.args.iter().find_map(|a| match a {
            Arg::Payload(ty) => Some(&**ty),
            Arg::Context => None,
        })
    }

    /// The span for errors about the handler's return value.
    pub(crate) fn output_span(&self) -> Span {
        match &self.output {
            syn::ReturnType::Default => self.ident.span(),
            syn::ReturnType::Type(_, ty) => ty.span(),
        }
    }

    /// What the handler answers, for the catalogue: `T` of a fallible `Result<T, ..>`, else
    /// the return type as written, `()` when there is none.
    pub(crate) fn reply_type(&self) -> syn::Type {
        match (
            &self.output,
            self.fallible.then(|| self.ok_type()).flatten(),
        ) {
            (_, Some(ok)) => ok.clone(),
            (syn::ReturnType::Type(_, ty), None) => (**ty).clone(),
            (syn::ReturnType::Default, None) => syn::parse_quote!(()),
        }
    }

    /// The event type of a `#[subscribe]` handler, for the catalogue: `T` of an argument
    /// written `Event<T>` (any path ending so), else the argument's type.
    pub(crate) fn event_type(&self) -> Option<&syn::Type> {
        let ty = self.payload()?;
        let event = match ty {
            syn::Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
            _ => None,
        };
        let inner = event
            .filter(|segment| segment.ident == "Event")
            .and_then(|segment| match &segment.arguments {
                syn::PathArguments::AngleBracketed(args) => {
                    args.args.iter().find_map(|a| match a {
                        syn::GenericArgument::Type(ty) => Some(ty),
                        _ => None,
                    })
                }
                _ => None,
            });
        Some(inner.unwrap_or(ty))
    }

    /// `T` of a fallible `Result<T, ..>` return type (see [`is_fallible`]).
    pub(crate) fn ok_type(&self) -> Option<&syn::Type> {
        let syn::ReturnType::Type(_, ty) = &self.output else {
            return None;
        };
        let syn::Type::Path(path) = &**ty else {
            return None;
        };
        let last = path.path.segments.last()?;
        if last.ident != "Result" {
            return None;
        }
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            syn::GenericArgument::Type(ty) => Some(ty),
            _ => None,
        })
    }
}

/// Builds a handler from a method and its attribute, reporting every signature problem.
pub(crate) fn handler(cx: &Ctxt, method: &syn::ImplItemFn, attr: MethodAttr) -> Option<Handler> {
    let sig = &method.sig;
    let kind = attr.kind;
    let attribute = kind.attribute();
    let mut ok = true;
    if sig.asyncness.is_none() {
        cx.error_spanned_by(
            sig.fn_token,
            format!("`#[{attribute}]` methods must be `async fn`"),
        );
        ok = false;
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            format!("`#[{attribute}]` methods cannot be generic"),
        );
        ok = false;
    }
    match sig.receiver() {
        None => {
            cx.error_spanned_by(
                &sig.ident,
                format!("`#[{attribute}]` methods must take `&self` as their first argument"),
            );
            ok = false;
        }
        Some(receiver) => match &receiver.kind {
            syn::ReceiverKind::Reference(_, _, None) => {}
            syn::ReceiverKind::Reference(_, _, Some(_)) => {
                cx.error_spanned_by(
                    receiver,
                    format!(
                        "`#[{attribute}]` methods must take `&self`, not `&mut self`: \
                         handlers run concurrently (use interior mutability)"
                    ),
                );
                ok = false;
            }
            _ => {
                cx.error_spanned_by(
                    receiver,
                    format!("`#[{attribute}]` methods must take `&self`, not `self` by value"),
                );
                ok = false;
            }
        },
    }
    let fallible = is_fallible(&sig.output);
    if kind == HandlerKind::Subscribe && !fallible && !returns_unit(&sig.output) {
        cx.error_spanned_by(
            &sig.output,
            "`#[subscribe]` methods return nothing, `()` or `Result<(), E>` with \
             `E: aegis::IntoRpcError`: an event has no caller to send a value to",
        );
        ok = false;
    }
    let args = if kind == HandlerKind::Subscribe {
        event_args(cx, sig, &mut ok)
    } else {
        handler_args(cx, kind, sig, &mut ok)
    };
    let (wire_name, name_span) = match &attr.name {
        Some(lit) => (lit.value(), lit.span()),
        None => {
            let name = sig.ident.to_string();
            let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
            // A `#[subscribe]` handler's name only names its durable consumer.
            if kind != HandlerKind::Subscribe && !is_valid_method_name(&name) {
                let what = if kind == HandlerKind::Command {
                    "command"
                } else {
                    "method"
                };
                cx.error_spanned_by(
                    &sig.ident,
                    format!(
                        "`{name}` is not a valid {what} name on the wire (lowercase letters, \
                         digits and `_`, starting with a letter); rename it or use \
                         `#[{attribute}(name = \"...\")]`"
                    ),
                );
                ok = false;
            }
            (name, sig.ident.span())
        }
    };
    let subscription = match attr.subscribe {
        Some(args) => Some(Subscription {
            pattern: args.pattern.value(),
            mode: args.mode,
        }),
        None if kind == HandlerKind::Subscribe => {
            // The missing pattern is already reported.
            ok = false;
            None
        }
        None => None,
    };
    let copied = |names: &[&str]| {
        method
            .attrs
            .iter()
            .filter(|a| names.iter().any(|n| a.path().is_ident(n)))
            .cloned()
            .collect::<Vec<_>>()
    };
    ok.then(|| Handler {
        kind,
        ident: sig.ident.clone(),
        wire_name,
        name_span,
        cfgs: copied(&["cfg", "cfg_attr"]),
        docs: copied(&["doc", "deprecated"]),
        args,
        output: sig.output.clone(),
        fallible,
        subscription,
    })
}

/// The arguments of an rpc or command handler: its own context (at most once) and at most one
/// payload, in any order.
fn handler_args(cx: &Ctxt, kind: HandlerKind, sig: &syn::Signature, ok: &mut bool) -> Vec<Arg> {
    let attribute = kind.attribute();
    let expected = if kind == HandlerKind::Command {
        ContextKind::Command
    } else {
        ContextKind::Request
    };
    let mut args = Vec::new();
    let mut payload_seen = false;
    let mut context_seen = false;
    for input in &sig.inputs {
        let syn::FnArg::Typed(typed) = input else {
            continue;
        };
        match context_kind(&typed.ty) {
            Some(found) if found == expected => {
                if context_seen {
                    cx.error_spanned_by(
                        &typed.ty,
                        format!("duplicate `&{}` argument", found.type_name()),
                    );
                    *ok = false;
                }
                context_seen = true;
                args.push(Arg::Context);
            }
            Some(found) => {
                let (right, other) = match expected {
                    ContextKind::Command => ("a `&aegis::CommandContext`", "`#[rpc]` methods"),
                    ContextKind::Request => ("a `&aegis::RequestContext`", "`#[command]` handlers"),
                };
                cx.error_spanned_by(
                    &typed.ty,
                    format!(
                        "`#[{attribute}]` methods take {right}, not a `&{}` (that is for {other})",
                        found.type_name()
                    ),
                );
                *ok = false;
            }
            None if payload_seen => {
                cx.error_spanned_by(
                    typed,
                    format!(
                        "`#[{attribute}]` methods take at most one payload argument; \
                         put the fields into one struct"
                    ),
                );
                *ok = false;
            }
            None => {
                payload_seen = true;
                args.push(Arg::Payload(typed.ty.clone()));
            }
        }
    }
    args
}

/// The argument of a `#[subscribe]` handler: exactly one, the event, and no context.
fn event_args(cx: &Ctxt, sig: &syn::Signature, ok: &mut bool) -> Vec<Arg> {
    let mut event = None;
    let mut reported = false;
    for input in &sig.inputs {
        let syn::FnArg::Typed(typed) = input else {
            continue;
        };
        if let Some(found) = context_kind(&typed.ty) {
            cx.error_spanned_by(
                &typed.ty,
                format!(
                    "`#[subscribe]` methods take no `&{}`: the event carries its metadata \
                     (`event.id()`, `event.trace_id()`, `event.headers()`, ...)",
                    found.type_name()
                ),
            );
            reported = true;
        } else if event.is_some() {
            cx.error_spanned_by(
                typed,
                "`#[subscribe]` methods take exactly one argument besides `&self`: the event, \
                 e.g. `event: aegis::Event<OrderCreated>`",
            );
            reported = true;
        } else {
            event = Some(typed.ty.clone());
        }
    }
    if event.is_none() && !reported {
        cx.error_spanned_by(
            &sig.ident,
            "`#[subscribe]` methods take the event as their argument, e.g. \
             `async fn on_order(&self, event: aegis::Event<OrderCreated>)`",
        );
        reported = true;
    }
    if reported {
        *ok = false;
    }
    event.map(Arg::Payload).into_iter().collect()
}

/// `&RequestContext` or `&CommandContext` (any path ending in that name, any lifetime).
fn context_kind(ty: &syn::Type) -> Option<ContextKind> {
    let syn::Type::Reference(reference) = ty else {
        return None;
    };
    let syn::Type::Path(path) = &*reference.elem else {
        return None;
    };
    if reference.mutability.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    [ContextKind::Request, ContextKind::Command]
        .into_iter()
        .find(|kind| last.ident == kind.type_name())
}

/// Whether a return type is fallible, decided from its syntax: a path whose last segment is
/// `Result` (`Result<T, E>`, `aegis::Result<T>`, `anyhow::Result<T>`, an alias named `Result`);
/// the `HandlerOutput` bound checks the rest. Anything else is a plain value.
fn is_fallible(output: &syn::ReturnType) -> bool {
    let syn::ReturnType::Type(_, ty) = output else {
        return false;
    };
    let syn::Type::Path(path) = &**ty else {
        return false;
    };
    path.qself.is_none()
        && path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Result")
}

/// No return type, or `()`.
fn returns_unit(output: &syn::ReturnType) -> bool {
    match output {
        syn::ReturnType::Default => true,
        syn::ReturnType::Type(_, ty) => matches!(&**ty, syn::Type::Tuple(t) if t.elems.is_empty()),
    }
}

/// The first paragraph of a doc comment, its lines joined by spaces.
pub(crate) fn doc_summary(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        let syn::Meta::NameValue(syn::MetaNameValue {
            value:
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(text),
                    ..
                }),
            ..
        }) = &attr.meta
        else {
            continue;
        };
        let text = text.value();
        let line = text.trim();
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(line.to_owned());
    }
    lines.join(" ")
}

#[cfg(test)]
mod tests {
    use super::doc_summary;

    #[test]
    fn the_description_is_the_first_paragraph_of_the_docs() {
        let item: syn::ItemImpl = syn::parse_quote! {
            #[doc = ""]
            /// Keeps the ledger.
            ///   Only the leader writes.
            ///
            /// Not this paragraph.
            #[allow(dead_code)]
            impl Ledger {}
        };
        assert_eq!(
            doc_summary(&item.attrs),
            "Keeps the ledger. Only the leader writes."
        );
        let bare: syn::ItemImpl = syn::parse_quote!(impl Ledger {});
        assert_eq!(doc_summary(&bare.attrs), "");
    }
}
