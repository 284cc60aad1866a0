//! On errors: the user's impl (helper attributes stripped), the errors, and stubs so that code
//! using the service and its client does not cascade into more errors.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand::client::client_ident;
use crate::model::Service;

pub(crate) fn expand(service: &Service, errors: syn::Error) -> TokenStream {
    let item = &service.item;
    let errors = errors.to_compile_error();
    let krate = &service.krate;
    let private = krate.private();
    let self_ty = &service.item.self_ty;
    let client = client_ident(service);
    let client = service.client.then(|| {
        quote! {
            #[doc(hidden)]
            #[derive(::core::clone::Clone, ::core::fmt::Debug)]
            pub struct #client;
        }
    });
    let name = if service.name.is_empty() {
        "invalid"
    } else {
        &service.name
    };
    let version = if service.version.is_empty() {
        "0.0.0"
    } else {
        &service.version
    };
    quote! {
        #item
        #errors
        #[doc(hidden)]
        const _: () = {
            impl #krate::Service for #self_ty {
                const NAME: &'static str = #name;
                const VERSION: &'static str = #version;
                fn __methods() -> #private::Vec<#private::MethodSpec> {
                    #private::Vec::new()
                }
                fn __dispatch(
                    _: &#private::Arc<Self>,
                    _: &str,
                    call: #private::Call,
                ) -> #private::BoxFuture<'static, #private::EncodedReply> {
                    #private::boxed(async move { #private::unknown_method(call) })
                }
            }
        };
        #client
    }
}
