//! The service's declaration for the catalogue (`aegis::catalog`): `const __CATALOG` in
//! `impl Service`, and its registration at link time.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand::mode_variant;

use crate::model::{Handler, Service, doc_summary};
use crate::naming::type_name;
use crate::parse::method_attr::HandlerKind;

/// `const __CATALOG: &'static ServiceDecl = &ServiceDecl { .. };`, one entry per handler
/// (under the handler's `#[cfg]`s).
pub(crate) fn const_catalog(service: &Service) -> TokenStream {
    let private = service.krate.private();
    let name = &service.name;
    let version = &service.version;
    let description = &service.description;
    let of_kinds = |kinds: &'static [HandlerKind]| {
        service
            .handlers
            .iter()
            .filter(move |h| kinds.contains(&h.kind))
    };
    let methods = of_kinds(&[HandlerKind::Rpc, HandlerKind::ExclusiveRpc])
        .map(|h| with_cfgs(h, method_decl(&private, h)));
    let subscriptions = of_kinds(&[HandlerKind::Subscribe])
        .filter_map(|h| Some(with_cfgs(h, subscription_decl(&private, h)?)));
    let commands =
        of_kinds(&[HandlerKind::Command]).map(|h| with_cfgs(h, command_decl(&private, h)));
    quote! {
        const __CATALOG: &'static #private::ServiceDecl = &#private::ServiceDecl {
            name: #name,
            version: #version,
            description: #description,
            methods: &[#(#methods)*],
            subscriptions: &[#(#subscriptions)*],
            commands: &[#(#commands)*],
        };
    }
}

/// Registers the declaration in the binary's catalogue.
pub(crate) fn submit(service: &Service) -> TokenStream {
    let krate = &service.krate;
    let private = krate.private();
    let self_ty = &service.item.self_ty;
    quote! {
        #private::inventory::submit! {
            #private::Registered::new(<#self_ty as #krate::Service>::__CATALOG)
        }
    }
}

/// An array element, present under the handler's `#[cfg]`s only.
fn with_cfgs(handler: &Handler, element: TokenStream) -> TokenStream {
    let cfgs = &handler.cfgs;
    quote!(#(#cfgs)* #element,)
}

fn method_decl(private: &TokenStream, handler: &Handler) -> TokenStream {
    let name = &handler.wire_name;
    let kind = if handler.kind == HandlerKind::ExclusiveRpc {
        quote!(Exclusive)
    } else {
        quote!(Rpc)
    };
    let request = optional_type_decl(private, handler.payload());
    let response = type_decl(private, &handler.reply_type(), Contract::Serialize);
    let doc = doc_summary(&handler.docs);
    quote! {
        #private::MethodDecl {
            name: #name,
            kind: #private::MethodKind::#kind,
            request: #request,
            response: #response,
            doc: #doc,
        }
    }
}

fn subscription_decl(private: &TokenStream, handler: &Handler) -> Option<TokenStream> {
    let name = &handler.wire_name;
    let subscription = handler.subscription.as_ref()?;
    let pattern = &subscription.pattern;
    let mode = mode_variant(subscription.mode);
    let payload = type_decl(private, handler.event_type()?, Contract::Deserialize);
    let doc = doc_summary(&handler.docs);
    Some(quote! {
        #private::SubscriptionDecl {
            handler: #name,
            pattern: #pattern,
            mode: #private::SubscriptionMode::#mode,
            payload: #payload,
            doc: #doc,
        }
    })
}

fn command_decl(private: &TokenStream, handler: &Handler) -> TokenStream {
    let name = &handler.wire_name;
    let payload = optional_type_decl(private, handler.payload());
    let result = type_decl(private, &handler.reply_type(), Contract::Serialize);
    let doc = doc_summary(&handler.docs);
    quote! {
        #private::CommandDecl {
            name: #name,
            payload: #payload,
            result: #result,
            doc: #doc,
        }
    }
}

/// Which side of serde a schema describes: payloads are deserialized, results serialized.
#[derive(Clone, Copy)]
enum Contract {
    Deserialize,
    Serialize,
}

fn optional_type_decl(private: &TokenStream, ty: Option<&syn::Type>) -> TokenStream {
    match ty {
        Some(ty) => {
            let decl = type_decl(private, ty, Contract::Deserialize);
            quote!(#private::Option::Some(#decl))
        }
        None => quote!(#private::Option::None),
    }
}

/// The type's name as written, and a fn that asks the runtime for its schema: one when the
/// type implements `JsonSchema` and the runtime has the `schemars` feature, else none (the
/// runtime's `SchemaProbe` decides, so this compiles for any type).
fn type_decl(private: &TokenStream, ty: &syn::Type, contract: Contract) -> TokenStream {
    let name = type_name(ty);
    let contract = match contract {
        Contract::Deserialize => quote!(Deserialize),
        Contract::Serialize => quote!(Serialize),
    };
    quote! {
        #private::TypeDecl {
            name: #name,
            schema: || {
                #[allow(unused_imports)]
                use #private::{NoSchema as _, ViaJsonSchema as _};
                (&&#private::SchemaProbe::<#ty>::new()).schema(#private::Contract::#contract)
            },
        }
    }
}
