//! Code generation. Never fails: every error was reported before.

pub(crate) mod catalog;
pub(crate) mod client;
pub(crate) mod fallback;
pub(crate) mod server;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::quote;

use crate::model::Service;
use crate::parse::method_attr::SubscriptionMode;

pub(crate) fn expand(service: &Service) -> TokenStream {
    let item = &service.item;
    let service_impl = server::impl_service(service);
    let submit = catalog::submit(service);
    let client = if service.client {
        client::struct_client(service)
    } else {
        TokenStream::new()
    };
    quote! {
        #item
        #[doc(hidden)]
        const _: () = {
            #service_impl
            #submit
        };
        #client
    }
}

/// The runtime's `SubscriptionMode` variant of `mode`, as a bare identifier.
pub(crate) fn mode_variant(mode: SubscriptionMode) -> TokenStream {
    match mode {
        SubscriptionMode::Compete => quote!(Compete),
        SubscriptionMode::Broadcast => quote!(Broadcast),
    }
}

/// `tokens` with every span set to `span`, so that a type error inside generated code that
/// names the runtime (`#krate::...`) is reported on the user's token, not on the attribute.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut respanned =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                tree = TokenTree::Group(respanned);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}
