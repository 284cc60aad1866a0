//! Name rules, mirrored from `aegis::domain::names` and `aegis::domain::subject` (a proc-macro
//! crate cannot depend on the runtime; the runtime validates again at start). The parity test
//! below runs both over one table.

/// `^[a-z][a-z0-9-]*[a-z0-9]$`
pub(crate) fn is_valid_service_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// `^[a-z][a-z0-9_]*$`
pub(crate) fn is_valid_method_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// `x.y.z`
pub(crate) fn is_valid_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

/// A type as written, on one line: the spaces of its token stream removed, except between
/// two words (`dyn Trait`, `&'a mut T`) and after `,` and `;` (`HashMap<String, u32>`).
pub(crate) fn type_name(ty: &impl quote::ToTokens) -> String {
    let tokens = ty.to_token_stream().to_string();
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '\'';
    let mut name = String::with_capacity(tokens.len());
    let mut chars = tokens.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            let after_word = name.chars().next_back().is_some_and(is_word);
            if after_word && chars.peek().copied().is_some_and(is_word) {
                name.push(' ');
            }
            continue;
        }
        if matches!(c, ')' | ']' | '>') && name.ends_with(' ') {
            name.pop();
        }
        name.push(c);
        if matches!(c, ',' | ';') {
            name.push(' ');
        }
    }
    name.trim_end().to_owned()
}

/// What is wrong with a `#[subscribe]` pattern (the part after `events.`), if anything:
/// `aegis::domain::subject::event_filter`'s rules, checked in the same order.
pub(crate) fn event_pattern_error(pattern: &str) -> Option<String> {
    if pattern.is_empty() {
        return Some(
            "empty event pattern: expected `{domain}.{event_type}` (e.g. `orders.created`, \
             `orders.*`), or `>` for every event"
                .to_owned(),
        );
    }
    let invalid = |why: &str| Some(format!("invalid event pattern `{pattern}`: {why}"));
    let mut tokens = pattern.split('.').peekable();
    while let Some(token) = tokens.next() {
        if token.is_empty() {
            return invalid(
                "empty token (tokens are separated by single dots, none at either end)",
            );
        }
        if token.chars().any(char::is_whitespace) {
            return invalid("whitespace is not allowed");
        }
        let wildcard = token == "*" || token == ">";
        if token == ">" && tokens.peek().is_some() {
            return invalid("`>` must be the last token (it matches all the remaining tokens)");
        }
        if !wildcard && (token.contains('*') || token.contains('>')) {
            return invalid("`*` and `>` must be whole tokens, e.g. `orders.*` or `orders.>`");
        }
    }
    if let Some(rest) = pattern.strip_prefix("events.") {
        return invalid(&format!(
            "leave out the `events.` prefix, it is added for you (`{rest}`)"
        ));
    }
    if pattern != ">" && !pattern.contains('.') {
        return invalid(&format!(
            "expected a domain and an event type (`{pattern}.created`, `{pattern}.*`), \
             or `>` for every event"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use aegis::domain::{names, subject};

    use super::*;

    #[derive(Debug, Clone, Copy)]
    enum Rule {
        ServiceName,
        MethodName,
        Version,
        /// A `#[subscribe]` pattern, the part after `events.`.
        EventPattern,
    }
    use Rule::*;

    /// Each row: the rule, the input, and whether it is valid. The macro's copy and the
    /// runtime must both give that answer.
    const CASES: &[(Rule, &str, bool)] = &[
        (ServiceName, "echo-service", true),
        (ServiceName, "ab", true),
        (ServiceName, "a1", true),
        (ServiceName, "order-processor2", true),
        (ServiceName, "a--b", true),
        (ServiceName, "", false),
        (ServiceName, "a", false),
        (ServiceName, "Echo", false),
        (ServiceName, "ECHO", false),
        (ServiceName, "echo-", false),
        (ServiceName, "-echo", false),
        (ServiceName, "1echo", false),
        (ServiceName, "echo_svc", false),
        (ServiceName, "echo.svc", false),
        (ServiceName, "echo svc", false),
        (ServiceName, " echo", false),
        (ServiceName, "echo\n", false),
        (ServiceName, "echo*", false),
        (ServiceName, "echo>", false),
        (ServiceName, "écho", false),
        (MethodName, "echo", true),
        (MethodName, "get_order", true),
        (MethodName, "v2", true),
        (MethodName, "a", true),
        (MethodName, "a_", true),
        (MethodName, "a__b", true),
        (MethodName, "", false),
        (MethodName, "Echo", false),
        (MethodName, "getOrder", false),
        (MethodName, "get-order", false),
        (MethodName, "a.b", false),
        (MethodName, "_x", false),
        (MethodName, "2x", false),
        (MethodName, "get order", false),
        (MethodName, "get\t", false),
        (MethodName, "*", false),
        (MethodName, ">", false),
        (MethodName, "a*", false),
        (MethodName, "é", false),
        (Version, "1.2.3", true),
        (Version, "0.0.0", true),
        (Version, "10.20.30", true),
        (Version, "01.2.3", true),
        (Version, "", false),
        (Version, "1", false),
        (Version, "1.2", false),
        (Version, "1.2.3.4", false),
        (Version, "1..2", false),
        (Version, "1.2.", false),
        (Version, ".1.2", false),
        (Version, "a.b.c", false),
        (Version, "1.2.x", false),
        (Version, "v1.2.3", false),
        (Version, "-1.2.3", false),
        (Version, "1.2.3-beta", false),
        (Version, "1.2.3 ", false),
        (Version, " 1.2.3", false),
        (EventPattern, "orders.created", true),
        (EventPattern, "orders.*", true),
        (EventPattern, "orders.>", true),
        (EventPattern, "*.created", true),
        (EventPattern, "*.*", true),
        (EventPattern, "*.>", true),
        (EventPattern, ">", true),
        (EventPattern, "orders.item.added", true),
        (EventPattern, "a.b.*.>", true),
        (EventPattern, "Orders.Created-v2", true),
        (EventPattern, "orders.events", true),
        (EventPattern, "eventsx.created", true),
        (EventPattern, "event.created", true),
        (EventPattern, "", false),
        (EventPattern, ".", false),
        (EventPattern, "orders..created", false),
        (EventPattern, ".orders", false),
        (EventPattern, "orders.", false),
        (EventPattern, "orders. created", false),
        (EventPattern, " orders.created", false),
        (EventPattern, "orders.created ", false),
        (EventPattern, "orders.\tcreated", false),
        (EventPattern, "orders.\u{a0}created", false),
        (EventPattern, "orders.cre*", false),
        (EventPattern, "orders.**", false),
        (EventPattern, "orders.>x", false),
        (EventPattern, "orders*.created", false),
        (EventPattern, ">.created", false),
        (EventPattern, "orders.>.x", false),
        (EventPattern, "events.orders.created", false),
        (EventPattern, "events.*", false),
        (EventPattern, "events.>", false),
        (EventPattern, "events.", false),
        (EventPattern, "events", false),
        (EventPattern, "orders", false),
        (EventPattern, "*", false),
    ];

    #[test]
    fn the_macro_and_the_runtime_agree() {
        let mut wrong = Vec::new();
        for &(rule, input, valid) in CASES {
            let (in_macro, in_runtime) = match rule {
                ServiceName => (
                    is_valid_service_name(input),
                    names::validate_service_name(input).is_ok(),
                ),
                MethodName => (
                    is_valid_method_name(input),
                    names::validate_method_name(input).is_ok(),
                ),
                Version => (
                    is_valid_version(input),
                    names::validate_version(input).is_ok(),
                ),
                EventPattern => (
                    event_pattern_error(input).is_none(),
                    subject::event_filter(input).is_ok(),
                ),
            };
            if in_macro != valid || in_runtime != valid {
                wrong.push(format!(
                    "{rule:?} {input:?}: expected {valid}, macro {in_macro}, runtime {in_runtime}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    /// The macro's own messages, which the runtime does not share.
    #[test]
    fn event_pattern_messages() {
        for (bad, why) in [
            ("", "empty event pattern"),
            ("orders..created", "empty token"),
            (".orders", "empty token"),
            ("orders.", "empty token"),
            ("orders. created", "whitespace"),
            ("orders.cre*", "whole tokens"),
            ("orders.>x", "whole tokens"),
            (">.created", "must be the last token"),
            ("orders.>.x", "must be the last token"),
            ("events.orders.created", "leave out the `events.` prefix"),
            ("events.>", "leave out the `events.` prefix"),
            ("orders", "expected a domain and an event type"),
            ("*", "expected a domain and an event type"),
            ("events", "expected a domain and an event type"),
        ] {
            let error = event_pattern_error(bad).unwrap_or_default();
            assert!(error.contains(why), "{bad:?}: {error}");
        }
    }

    #[test]
    fn type_names_read_as_written() {
        let cases: [(syn::Type, &str); 7] = [
            (syn::parse_quote!(Order), "Order"),
            (
                syn::parse_quote!(Vec<crate::orders::Order>),
                "Vec<crate::orders::Order>",
            ),
            (
                syn::parse_quote!(HashMap<String,u32>),
                "HashMap<String, u32>",
            ),
            (syn::parse_quote!((u32, String)), "(u32, String)"),
            (syn::parse_quote!([u8; 4]), "[u8; 4]"),
            (syn::parse_quote!(&'static str), "&'static str"),
            (syn::parse_quote!(Option<(u32,)>), "Option<(u32,)>"),
        ];
        for (ty, expected) in cases {
            assert_eq!(type_name(&ty), expected);
        }
    }
}
