//! Checks across handlers: duplicate wire names, clashes with the generated client.

use crate::ctxt::Ctxt;
use crate::model::Service;
use crate::symbol::CLIENT_RESERVED;

pub(crate) fn check(cx: &Ctxt, service: &Service) {
    for (i, handler) in service.handlers.iter().enumerate() {
        let earlier = &service.handlers[..i];
        if let Some(first) = earlier.iter().find(|h| h.wire_name == handler.wire_name) {
            cx.error_at(
                handler.name_span,
                format!(
                    "duplicate method name `{}`: already used by `{}`",
                    handler.wire_name, first.ident
                ),
            );
        }
        let ident = handler.ident.to_string();
        if CLIENT_RESERVED.contains(&ident.as_str()) {
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
