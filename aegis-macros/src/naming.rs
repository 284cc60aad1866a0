//! Name rules, mirrored from `aegis::domain::names` and `aegis::domain::subject` (a proc-macro
//! crate cannot depend on the runtime; the runtime validates again at start).

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
    use super::*;

    #[test]
    fn rules_match_the_runtime() {
        assert!(is_valid_service_name("echo-service"));
        assert!(!is_valid_service_name("Echo"));
        assert!(!is_valid_service_name("echo-"));
        assert!(!is_valid_service_name("e"));
        assert!(is_valid_method_name("get_order"));
        assert!(!is_valid_method_name("getOrder"));
        assert!(!is_valid_method_name("_x"));
        assert!(is_valid_version("1.2.3"));
        assert!(!is_valid_version("1.2"));
        assert!(!is_valid_version("1.2.x"));
    }

    #[test]
    fn event_patterns_follow_the_runtime() {
        for ok in [
            "orders.created",
            "orders.*",
            "orders.>",
            "*.created",
            "*.*",
            ">",
            "orders.item.added",
            "a.b.*.>",
        ] {
            assert_eq!(event_pattern_error(ok), None, "{ok}");
        }
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
}
