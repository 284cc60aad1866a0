//! `impl aegis::Service`: the method table and the dispatch function of the rpc methods, the
//! subscriptions and their event handler, the commands and their command handler.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::expand::respan;
use crate::model::{Arg, Handler, Service};
use crate::parse::method_attr::{HandlerKind, SubscriptionMode};

pub(crate) fn impl_service(service: &Service) -> TokenStream {
    let krate = &service.krate;
    let private = krate.private();
    let self_ty = &service.item.self_ty;
    let name = &service.name;
    let version = &service.version;
    let of_kind = |kinds: &'static [HandlerKind]| {
        service
            .handlers
            .iter()
            .filter(move |h| kinds.contains(&h.kind))
    };
    let rpc = of_kind(&[HandlerKind::Rpc, HandlerKind::ExclusiveRpc]);
    let specs = rpc.clone().map(|h| method_spec(&private, h));
    let arms = rpc.map(|h| dispatch_arm(&private, h));
    let events = fns_events(&private, of_kind(&[HandlerKind::Subscribe]));
    let commands = fns_commands(&private, of_kind(&[HandlerKind::Command]));
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

            #events
            #commands
        }
    }
}

/// `__subscriptions` and `__on_event`, when there are `#[subscribe]` handlers (the trait's
/// defaults stand for none).
fn fns_events<'a>(
    private: &TokenStream,
    handlers: impl Iterator<Item = &'a Handler> + Clone,
) -> TokenStream {
    if handlers.clone().next().is_none() {
        return TokenStream::new();
    }
    let specs = handlers.clone().map(|h| subscription_spec(private, h));
    let arms = handlers.map(|h| event_arm(private, h));
    quote! {
        fn __subscriptions() -> #private::Vec<#private::SubscriptionSpec> {
            #[allow(unused_mut)]
            let mut subscriptions = #private::Vec::new();
            #(#specs)*
            subscriptions
        }

        fn __on_event(
            this: &#private::Arc<Self>,
            handler: &str,
            call: #private::EventCall,
        ) -> #private::BoxFuture<'static, #private::EventOutcome> {
            #[allow(unused_variables)]
            let this = this;
            match handler {
                #(#arms)*
                _ => {
                    let outcome = call.unknown();
                    #private::Box::pin(async move { outcome })
                }
            }
        }
    }
}

/// `__commands` and `__on_command`, when there are `#[command]` handlers.
fn fns_commands<'a>(
    private: &TokenStream,
    handlers: impl Iterator<Item = &'a Handler> + Clone,
) -> TokenStream {
    if handlers.clone().next().is_none() {
        return TokenStream::new();
    }
    let specs = handlers.clone().map(|h| command_spec(private, h));
    let arms = handlers.map(|h| command_arm(private, h));
    quote! {
        fn __commands() -> #private::Vec<#private::CommandSpec> {
            #[allow(unused_mut)]
            let mut commands = #private::Vec::new();
            #(#specs)*
            commands
        }

        fn __on_command(
            this: &#private::Arc<Self>,
            command: &str,
            call: #private::CommandCall,
        ) -> #private::BoxFuture<'static, #private::CommandOutcome> {
            #[allow(unused_variables)]
            let this = this;
            match command {
                #(#arms)*
                _ => {
                    let outcome = call.unknown(command);
                    #private::Box::pin(async move { outcome })
                }
            }
        }
    }
}

fn method_spec(private: &TokenStream, handler: &Handler) -> TokenStream {
    let cfgs = &handler.cfgs;
    let wire_name = &handler.wire_name;
    let constructor = if handler.kind == HandlerKind::ExclusiveRpc {
        quote!(exclusive)
    } else {
        quote!(rpc)
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

fn subscription_spec(private: &TokenStream, handler: &Handler) -> TokenStream {
    let cfgs = &handler.cfgs;
    let name = &handler.wire_name;
    let Some(subscription) = &handler.subscription else {
        return TokenStream::new();
    };
    let pattern = &subscription.pattern;
    let mode = match subscription.mode {
        SubscriptionMode::Compete => quote!(Compete),
        SubscriptionMode::Broadcast => quote!(Broadcast),
    };
    quote! {
        #(#cfgs)*
        subscriptions.push(#private::SubscriptionSpec::new(
            #name,
            #pattern,
            #private::SubscriptionMode::#mode,
        ));
    }
}

/// One match arm of `__on_event`: decode (errors on the argument's type: not an `Event<T>`,
/// or `T` not `Deserialize`), run through `guard_event` (errors on the method if its future
/// is not `Send`), finish (errors on the return type unless it is `Result<(), E>`).
fn event_arm(private: &TokenStream, handler: &Handler) -> TokenStream {
    let cfgs = &handler.cfgs;
    let name = &handler.wire_name;
    let ident = &handler.ident;
    let Some(ty) = handler.payload() else {
        return TokenStream::new();
    };
    let decode = quote_spanned!(ty.span()=> __aegis_call.decode::<#ty>());
    let guard = respan(quote!(#private::guard_event), ident.span());
    let run = quote_spanned! {ident.span()=>
        #guard(&__aegis_call, __aegis_this.#ident(__aegis_event)).await
    };
    let finish = quote_spanned!(handler.output_span()=> __aegis_call.finish(__aegis_output));
    quote! {
        #(#cfgs)*
        #name => {
            let __aegis_this = ::core::clone::Clone::clone(this);
            #private::Box::pin(async move {
                let __aegis_call = call;
                let __aegis_event = match #decode {
                    #private::Result::Ok(event) => event,
                    #private::Result::Err(outcome) => return outcome,
                };
                let __aegis_output = #run;
                #finish
            })
        }
    }
}

fn command_spec(private: &TokenStream, handler: &Handler) -> TokenStream {
    let cfgs = &handler.cfgs;
    let name = &handler.wire_name;
    quote! {
        #(#cfgs)*
        commands.push(#private::CommandSpec::new(#name));
    }
}

/// One match arm of `__on_command`: decode (errors on the payload type), run through
/// `guard_command` (errors on the method if its future is not `Send`), finish (errors on the
/// return type).
fn command_arm(private: &TokenStream, handler: &Handler) -> TokenStream {
    let cfgs = &handler.cfgs;
    let name = &handler.wire_name;
    let ident = &handler.ident;
    let decode = match handler.payload() {
        Some(ty) => quote_spanned!(ty.span()=> __aegis_call.decode::<#ty>()),
        None => quote!(__aegis_call.decode::<#private::NoPayload>()),
    };
    let args = handler.args.iter().map(|arg| match arg {
        Arg::Context => quote!(&__aegis_context),
        Arg::Payload(_) => quote!(__aegis_payload),
    });
    let guard = respan(quote!(#private::guard_command), ident.span());
    let run = quote_spanned! {ident.span()=>
        #guard(&__aegis_context, __aegis_this.#ident(#(#args),*)).await
    };
    let finish = quote_spanned!(handler.output_span()=> __aegis_call.finish(__aegis_output));
    quote! {
        #(#cfgs)*
        #name => {
            let __aegis_this = ::core::clone::Clone::clone(this);
            #private::Box::pin(async move {
                let mut __aegis_call = call;
                #[allow(unused_variables)]
                let (__aegis_context, __aegis_payload) = match #decode {
                    #private::Result::Ok(decoded) => decoded,
                    #private::Result::Err(outcome) => return outcome,
                };
                let __aegis_output = #run;
                #finish
            })
        }
    }
}
