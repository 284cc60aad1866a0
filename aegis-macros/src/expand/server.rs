//! `impl aegis::Service`: the method table and the dispatch function of the rpc methods, the
//! subscriptions and their event handler, the commands and their command handler.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::expand::catalog::const_catalog;
use crate::expand::{mode_variant, respan};
use crate::model::{Arg, Handler, Service};
use crate::parse::method_attr::HandlerKind;

pub(crate) fn impl_service(service: &Service) -> TokenStream {
    let krate = &service.krate;
    let private = krate.private();
    let self_ty = &service.item.self_ty;
    let name = &service.name;
    let version = &service.version;
    let description = (!service.description.is_empty()).then(|| {
        let description = &service.description;
        quote!(const DESCRIPTION: &'static str = #description;)
    });
    let catalog = const_catalog(service);
    let tables = TABLES
        .iter()
        .map(|table| fns_table(&private, table, &service.handlers));
    quote! {
        impl #krate::Service for #self_ty {
            const NAME: &'static str = #name;
            const VERSION: &'static str = #version;
            #description
            #catalog

            #(#tables)*
        }
    }
}

/// What differs between the handler kinds in `impl Service`; [`fns_table`] writes the rest.
struct Table {
    /// Handlers of these kinds, in declaration order.
    kinds: &'static [HandlerKind],
    /// The trait has no default for these fns: emitted even without handlers.
    required: bool,
    /// `fn __{list}() -> Vec<{spec}>`, pushing `spec_new(handler)` per handler.
    list: &'static str,
    spec: &'static str,
    spec_new: fn(&TokenStream, &Handler) -> Option<TokenStream>,
    /// `fn {dispatch}(this, {key}: &str, call: {call}) -> BoxFuture<'static, {outcome}>`.
    dispatch: &'static str,
    key: &'static str,
    call: &'static str,
    outcome: &'static str,
    /// The path (under `__private`) that boxes an arm's future.
    boxed: &'static [&'static str],
    /// The fallback arm, for a key no handler has.
    unknown: fn(&TokenStream) -> TokenStream,
    /// Runs the handler's future (on the method's span), given references to these locals
    /// first; `call.{finish}(output)` answers.
    guard: &'static str,
    guard_args: &'static [&'static str],
    finish: &'static str,
    /// `call.decode()` gives `(context, payload)`; else (events) the payload alone.
    decodes_context: bool,
}

const TABLES: [Table; 3] = [
    Table {
        kinds: &[HandlerKind::Rpc, HandlerKind::ExclusiveRpc],
        required: true,
        list: "methods",
        spec: "MethodSpec",
        spec_new: method_spec,
        dispatch: "__dispatch",
        key: "method",
        call: "Call",
        outcome: "EncodedReply",
        boxed: &["boxed"],
        unknown: |private| quote!(#private::boxed(async move { #private::unknown_method(call) })),
        guard: "guard",
        guard_args: &["__aegis_call", "__aegis_context"],
        finish: "reply",
        decodes_context: true,
    },
    Table {
        kinds: &[HandlerKind::Subscribe],
        required: false,
        list: "subscriptions",
        spec: "SubscriptionSpec",
        spec_new: subscription_spec,
        dispatch: "__on_event",
        key: "handler",
        call: "EventCall",
        outcome: "EventOutcome",
        boxed: &["Box", "pin"],
        unknown: |private| {
            quote! {{
                let outcome = call.unknown();
                #private::Box::pin(async move { outcome })
            }}
        },
        guard: "guard_event",
        guard_args: &["__aegis_call"],
        finish: "finish",
        decodes_context: false,
    },
    Table {
        kinds: &[HandlerKind::Command],
        required: false,
        list: "commands",
        spec: "CommandSpec",
        spec_new: command_spec,
        dispatch: "__on_command",
        key: "command",
        call: "CommandCall",
        outcome: "CommandOutcome",
        boxed: &["Box", "pin"],
        unknown: |private| {
            quote! {{
                let outcome = call.unknown(command);
                #private::Box::pin(async move { outcome })
            }}
        },
        guard: "guard_command",
        guard_args: &["__aegis_context"],
        finish: "finish",
        decodes_context: true,
    },
];

/// The list fn and the dispatch fn of one table.
fn fns_table(private: &TokenStream, table: &Table, handlers: &[Handler]) -> TokenStream {
    let handlers: Vec<&Handler> = handlers
        .iter()
        .filter(|h| table.kinds.contains(&h.kind))
        .collect();
    if handlers.is_empty() && !table.required {
        return TokenStream::new();
    }
    let list = format_ident!("{}", table.list);
    let list_fn = format_ident!("__{}", table.list);
    let spec = format_ident!("{}", table.spec);
    let dispatch = format_ident!("{}", table.dispatch);
    let key = format_ident!("{}", table.key);
    let call = format_ident!("{}", table.call);
    let outcome = format_ident!("{}", table.outcome);
    let unknown = (table.unknown)(private);
    let pushes = handlers.iter().filter_map(|h| {
        let cfgs = &h.cfgs;
        let spec = (table.spec_new)(private, h)?;
        Some(quote! {
            #(#cfgs)*
            #list.push(#spec);
        })
    });
    let arms = handlers.iter().map(|h| dispatch_arm(private, table, h));
    quote! {
        fn #list_fn() -> #private::Vec<#private::#spec> {
            #[allow(unused_mut)]
            let mut #list = #private::Vec::new();
            #(#pushes)*
            #list
        }

        fn #dispatch(
            this: &#private::Arc<Self>,
            #key: &str,
            call: #private::#call,
        ) -> #private::BoxFuture<'static, #private::#outcome> {
            #[allow(unused_variables)]
            let this = this;
            match #key {
                #(#arms)*
                _ => #unknown,
            }
        }
    }
}

/// One match arm: decode (errors on the payload type), run through the guard (errors on the
/// method if its future is not `Send`), answer (errors on the return type). A plain return
/// value answers as `Ok`.
fn dispatch_arm(private: &TokenStream, table: &Table, handler: &Handler) -> TokenStream {
    let cfgs = &handler.cfgs;
    let wire_name = &handler.wire_name;
    let ident = &handler.ident;
    let boxed = table.boxed.iter().map(|segment| format_ident!("{segment}"));
    let decode = match handler.payload() {
        Some(ty) => quote_spanned!(ty.span()=> __aegis_call.decode::<#ty>()),
        None => quote!(__aegis_call.decode::<#private::NoPayload>()),
    };
    let (call_mut, decoded) = if table.decodes_context {
        (quote!(mut), quote!((__aegis_context, __aegis_payload)))
    } else {
        (TokenStream::new(), quote!(__aegis_payload))
    };
    let args = handler.args.iter().map(|arg| match arg {
        Arg::Context => quote!(&__aegis_context),
        Arg::Payload(_) => quote!(__aegis_payload),
    });
    let guard = format_ident!("{}", table.guard);
    let guard = respan(quote!(#private::#guard), ident.span());
    let guarded = table
        .guard_args
        .iter()
        .map(|local| syn::Ident::new(local, ident.span()));
    let run = quote_spanned! {ident.span()=>
        #guard(#(&#guarded,)* __aegis_this.#ident(#(#args),*)).await
    };
    // A plain value is an infallible result.
    let run = if handler.fallible {
        run
    } else {
        quote!(#private::Result::map(#run, #private::infallible))
    };
    let finish = syn::Ident::new(table.finish, handler.output_span());
    let finish = quote_spanned!(handler.output_span()=> __aegis_call.#finish(__aegis_output));
    quote! {
        #(#cfgs)*
        #wire_name => {
            let __aegis_this = ::core::clone::Clone::clone(this);
            #private #(::#boxed)*(async move {
                let #call_mut __aegis_call = call;
                #[allow(unused_variables)]
                let #decoded = match #decode {
                    #private::Result::Ok(decoded) => decoded,
                    #private::Result::Err(outcome) => return outcome,
                };
                let __aegis_output = #run;
                #finish
            })
        }
    }
}

/// `MethodSpec::rpc(name)` or `MethodSpec::exclusive(name)`.
fn method_spec(private: &TokenStream, handler: &Handler) -> Option<TokenStream> {
    let wire_name = &handler.wire_name;
    let constructor = if handler.kind == HandlerKind::ExclusiveRpc {
        quote!(exclusive)
    } else {
        quote!(rpc)
    };
    Some(quote!(#private::MethodSpec::#constructor(#wire_name)))
}

/// `SubscriptionSpec::new(name, pattern, mode)`.
fn subscription_spec(private: &TokenStream, handler: &Handler) -> Option<TokenStream> {
    let name = &handler.wire_name;
    let subscription = handler.subscription.as_ref()?;
    let pattern = &subscription.pattern;
    let mode = mode_variant(subscription.mode);
    Some(quote! {
        #private::SubscriptionSpec::new(
            #name,
            #pattern,
            #private::SubscriptionMode::#mode,
        )
    })
}

/// `CommandSpec::new(name)`.
fn command_spec(private: &TokenStream, handler: &Handler) -> Option<TokenStream> {
    let name = &handler.wire_name;
    Some(quote!(#private::CommandSpec::new(#name)))
}
