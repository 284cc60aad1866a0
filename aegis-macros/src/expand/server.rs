//! `impl aegis::Service`: the method table and the dispatch function.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::expand::respan;
use crate::model::{Arg, Handler, Service};
use crate::parse::method_attr::HandlerKind;

pub(crate) fn impl_service(service: &Service) -> TokenStream {
    let krate = &service.krate;
    let private = krate.private();
    let self_ty = &service.item.self_ty;
    let name = &service.name;
    let version = &service.version;
    let specs = service.handlers.iter().map(|h| method_spec(&private, h));
    let arms = service.handlers.iter().map(|h| dispatch_arm(&private, h));
    quote! {
        impl #krate::Service for #self_ty {
            const NAME: &'static str = #name;
            const VERSION: &'static str = #version;

            fn __methods() -> #private::Vec<#private::MethodSpec> {
                #[allow(unused_mut)]
                let mut methods = #private::Vec::new();
                #(#specs)*
                methods
            }

            fn __dispatch(
                this: &#private::Arc<Self>,
                method: &str,
                call: #private::Call,
            ) -> #private::BoxFuture<'static, #private::EncodedReply> {
                #[allow(unused_variables)]
                let this = this;
                match method {
                    #(#arms)*
                    _ => #private::boxed(async move { #private::unknown_method(call) }),
                }
            }
        }
    }
}

fn method_spec(private: &TokenStream, handler: &Handler) -> TokenStream {
    let cfgs = &handler.cfgs;
    let wire_name = &handler.wire_name;
    let constructor = match handler.kind {
        HandlerKind::Rpc => quote!(rpc),
        HandlerKind::ExclusiveRpc => quote!(exclusive),
    };
    quote! {
        #(#cfgs)*
        methods.push(#private::MethodSpec::#constructor(#wire_name));
    }
}

/// One match arm: decode (errors on the payload type), run through `guard` (errors on the
/// method if its future is not `Send`), reply (errors on the return type).
fn dispatch_arm(private: &TokenStream, handler: &Handler) -> TokenStream {
    let cfgs = &handler.cfgs;
    let wire_name = &handler.wire_name;
    let ident = &handler.ident;
    let decode = match handler.payload() {
        Some(ty) => quote_spanned!(ty.span()=> __aegis_call.decode::<#ty>()),
        None => quote!(__aegis_call.decode::<#private::NoPayload>()),
    };
    let args = handler.args.iter().map(|arg| match arg {
        Arg::Context => quote!(&__aegis_context),
        Arg::Payload(_) => quote!(__aegis_payload),
    });
    let guard = respan(quote!(#private::guard), ident.span());
    let run = quote_spanned! {ident.span()=>
        #guard(&__aegis_context, __aegis_this.#ident(#(#args),*)).await
    };
    let reply = quote_spanned!(handler.output_span()=> __aegis_call.reply(__aegis_output));
    quote! {
        #(#cfgs)*
        #wire_name => {
            let __aegis_this = ::core::clone::Clone::clone(this);
            #private::boxed(async move {
                let mut __aegis_call = call;
                #[allow(unused_variables)]
                let (__aegis_context, __aegis_payload) = match #decode {
                    #private::Result::Ok(decoded) => decoded,
                    #private::Result::Err(reply) => return reply,
                };
                let __aegis_output = #run;
                #reply
            })
        }
    }
}
