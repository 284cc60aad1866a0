//! Checks across handlers: duplicate wire names, clashes with the generated client.

use crate::ctxt::Ctxt;
use crate::model::{Handler, Service};
use crate::parse::method_attr::HandlerKind;
use crate::symbol::{CLIENT_FIELD, CLIENT_METHODS};

/// The namespaces of wire names: rpc methods (`#[rpc]` and `#[exclusive_rpc]` share
/// `rpc.{service}.{name}`) and commands (`commands.{service}.{name}`). `#[subscribe]` handlers
/// are named by their method, unique anyway.
#[derive(PartialEq, Eq)]
enum Namespace {
    Rpc,
    Command,
}

fn namespace(handler: &Handler) -> Option<Namespace> {
    match handler.kind {
        HandlerKind::Rpc | HandlerKind::ExclusiveRpc => Some(Namespace::Rpc),
        HandlerKind::Command => Some(Namespace::Command),
        HandlerKind::Subscribe => None,
    }
}

pub(crate) fn check(cx: &Ctxt, service: &Service) {
    for (i, handler) in service.handlers.iter().enumerate() {
        let earlier = &service.handlers[..i];
        if let Some(ns) = namespace(handler)
            && let Some(first) = earlier
                .iter()
                .find(|h| h.wire_name == handler.wire_name && namespace(h).as_ref() == Some(&ns))
        {
            let what = match ns {
                Namespace::Rpc => "method",
                Namespace::Command => "command",
            };
            cx.error_at(
                handler.name_span,
                format!(
                    "duplicate {what} name `{}`: already used by `{}`",
                    handler.wire_name, first.ident
                ),
            );
        }
        // `#[subscribe]` handlers have no client method, and there may be no client.
        let ident = handler.ident.to_string();
        let reserved = CLIENT_METHODS.contains(&ident.as_str()) || ident == CLIENT_FIELD;
        if service.client && handler.kind != HandlerKind::Subscribe && reserved {
            cx.error_spanned_by(
                &handler.ident,
                format!(
                    "`{ident}` clashes with a method of the generated `{}Client`; rename the \
                     method (the wire name can stay, with `#[{}(name = \"{ident}\")]`)",
                    service.type_ident,
                    handler.kind.attribute()
                ),
            );
        }
    }
}
