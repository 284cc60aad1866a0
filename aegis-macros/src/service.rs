//! The `#[service]` pipeline: parse → model → validate → expand (or fall back).

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::expand;
use crate::model::{self, Service};
use crate::parse::method_attr;
use crate::parse::service_args::ServiceArgs;

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: syn::Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(error) => return with_error(error, input),
    };
    let syn::Item::Impl(mut item) = item else {
        let error = syn::Error::new(
            item_span(&item),
            "`#[service]` must be placed on an inherent `impl` block, e.g. `impl MyService { ... }`",
        );
        return with_error(error, input);
    };

    let cx = Ctxt::new();
    let span = Span::call_site();
    let service_args = match ServiceArgs::from_tokens(&cx, args, span) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            cx.syn_error(error);
            None
        }
    };
    if let Some((path, _)) = &item.trait_ {
        cx.error_spanned_by(
            path,
            "`#[service]` must be placed on an inherent `impl` block, not a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(
            &item.generics,
            "`#[service]` does not support generic impl blocks; implement it for a concrete type",
        );
    }
    let type_ident = self_type_ident(&item.self_ty);
    if type_ident.is_none() && item.generics.params.is_empty() {
        cx.error_spanned_by(
            &item.self_ty,
            "`#[service]` must be placed on the `impl` of a named struct or enum",
        );
    }

    let mut handlers = Vec::new();
    for impl_item in &mut item.items {
        let syn::ImplItem::Fn(method) = impl_item else {
            continue;
        };
        if let Some(attr) = method_attr::take(&cx, &mut method.attrs)
            && let Some(handler) = model::handler(&cx, method, attr)
        {
            handlers.push(handler);
        }
    }

    let (Some(args), Some(type_ident)) = (service_args, type_ident) else {
        return fallback(cx, &item);
    };
    let service = Service {
        type_ident,
        name: args.name.map(|n| n.value()).unwrap_or_default(),
        version: args.version.map(|v| v.value()).unwrap_or_default(),
        description: args
            .description
            .map_or_else(|| model::doc_summary(&item.attrs), |d| d.value()),
        krate: args.krate,
        client: args.client,
        handlers,
        item,
    };
    crate::validate::check(&cx, &service);
    match cx.check() {
        Ok(()) => expand::expand(&service),
        Err(error) => expand::fallback::expand(&service, error),
    }
}

/// Errors before a model exists: the user's impl (helper attributes stripped) plus the errors.
fn fallback(cx: Ctxt, item: &syn::ItemImpl) -> TokenStream {
    let errors = match cx.check() {
        Ok(()) => TokenStream::new(),
        Err(error) => error.to_compile_error(),
    };
    quote!(#item #errors)
}

/// `#[rpc]` and friends used outside `#[service]`: an error, and the item unchanged.
pub(crate) fn outside_service(
    attribute: &str,
    _args: TokenStream,
    input: TokenStream,
) -> TokenStream {
    let span = syn::parse2::<syn::Item>(input.clone())
        .map(|item| item_span(&item))
        .or_else(|_| syn::parse2::<syn::ImplItemFn>(input.clone()).map(|f| f.sig.ident.span()))
        .unwrap_or_else(|_| Span::call_site());
    let error = syn::Error::new(
        span,
        format!("`#[{attribute}]` must be used on a method inside a `#[service]` impl block"),
    );
    with_error(error, input)
}

fn with_error(error: syn::Error, input: TokenStream) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#input #error)
}

fn self_type_ident(ty: &syn::Type) -> Option<syn::Ident> {
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            last.arguments.is_none().then(|| last.ident.clone())
        }
        _ => None,
    }
}

/// The span that names the item: its identifier where it has one.
fn item_span(item: &syn::Item) -> Span {
    match item {
        syn::Item::Fn(f) => f.sig.ident.span(),
        syn::Item::Struct(s) => s.ident.span(),
        syn::Item::Enum(e) => e.ident.span(),
        syn::Item::Trait(t) => t.ident.span(),
        syn::Item::Mod(m) => m.ident.span(),
        syn::Item::Impl(i) => i.self_ty.span(),
        other => other.span(),
    }
}
