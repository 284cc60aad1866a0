//! The validated model of a `#[service]` impl block, with the user's tokens kept for spans.

use proc_macro2::Span;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::krate::CratePath;
use crate::naming::is_valid_method_name;
use crate::parse::method_attr::{HandlerKind, MethodAttr};

pub(crate) struct Service {
    pub(crate) item: syn::ItemImpl,
    pub(crate) type_ident: syn::Ident,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) krate: CratePath,
    pub(crate) handlers: Vec<Handler>,
}

pub(crate) struct Handler {
    pub(crate) kind: HandlerKind,
    pub(crate) ident: syn::Ident,
    pub(crate) wire_name: String,
    /// Where the wire name came from (the `name = "..."` literal, else the method name).
    pub(crate) name_span: Span,
    /// `#[cfg]`, `#[doc]` and `#[deprecated]`, copied onto generated items.
    pub(crate) cfgs: Vec<syn::Attribute>,
    pub(crate) docs: Vec<syn::Attribute>,
    pub(crate) args: Vec<Arg>,
    pub(crate) output: syn::ReturnType,
}

pub(crate) enum Arg {
    Context,
    Payload(Box<syn::Type>),
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

    /// `T` of a syntactic `Result<T, ..>` return type (any path ending in `Result`).
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
    let attribute = attr.kind.attribute();
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
    if !returns_result(&sig.output) {
        let message = format!(
            "`#[{attribute}]` methods must return `Result<T, E>` (or an alias named `...Result`), \
             with `T: Serialize` and `E: aegis::IntoRpcError`"
        );
        match &sig.output {
            syn::ReturnType::Default => cx.error_spanned_by(&sig.ident, message),
            syn::ReturnType::Type(_, ty) => cx.error_spanned_by(ty, message),
        }
        ok = false;
    }
    let mut args = Vec::new();
    let mut payload_seen = false;
    let mut context_seen = false;
    for input in sig.inputs.iter().skip(1) {
        let syn::FnArg::Typed(typed) = input else {
            continue;
        };
        if is_context(&typed.ty) {
            if context_seen {
                cx.error_spanned_by(&typed.ty, "duplicate `&RequestContext` argument");
                ok = false;
            }
            context_seen = true;
            args.push(Arg::Context);
        } else if payload_seen {
            cx.error_spanned_by(
                typed,
                format!(
                    "`#[{attribute}]` methods take at most one payload argument; \
                     put the fields into one struct"
                ),
            );
            ok = false;
        } else {
            payload_seen = true;
            args.push(Arg::Payload(typed.ty.clone()));
        }
    }
    let (wire_name, name_span) = match &attr.name {
        Some(lit) => (lit.value(), lit.span()),
        None => {
            let name = sig.ident.to_string();
            let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
            if !is_valid_method_name(&name) {
                cx.error_spanned_by(
                    &sig.ident,
                    format!(
                        "`{name}` is not a valid method name on the wire (lowercase letters, \
                         digits and `_`, starting with a letter); rename it or use \
                         `#[{attribute}(name = \"...\")]`"
                    ),
                );
                ok = false;
            }
            (name, sig.ident.span())
        }
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
        kind: attr.kind,
        ident: sig.ident.clone(),
        wire_name,
        name_span,
        cfgs: copied(&["cfg", "cfg_attr"]),
        docs: copied(&["doc", "deprecated"]),
        args,
        output: sig.output.clone(),
    })
}

/// `&RequestContext` (any path ending in `RequestContext`, any lifetime).
fn is_context(ty: &syn::Type) -> bool {
    let syn::Type::Reference(reference) = ty else {
        return false;
    };
    let syn::Type::Path(path) = &*reference.elem else {
        return false;
    };
    reference.mutability.is_none()
        && path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "RequestContext")
}

/// A return type written as a path whose last segment ends in `Result` (`Result<T, E>`,
/// `aegis::Result<T>`, `io::Result<T>`, `MyResult<T>`): the `HandlerOutput` bound checks the
/// rest. Anything else is refused here, with one clear error.
fn returns_result(output: &syn::ReturnType) -> bool {
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
            .is_some_and(|s| s.ident.to_string().ends_with("Result"))
}
