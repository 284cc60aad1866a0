//! Subject grammar: validation, wildcard matching and the subjects aegis uses.

use crate::{Error, Result};

/// Checks a subject or subscription pattern: non-empty `.`-separated tokens without
/// whitespace; with `allow_wildcards`, a token may be `*`, and the last token may be `>`.
pub fn validate_subject(subject: &str, allow_wildcards: bool) -> Result<()> {
    let what = if allow_wildcards {
        "subject pattern"
    } else {
        "subject"
    };
    if subject.is_empty() {
        return Err(Error::invalid(what, "must not be empty"));
    }
    let mut tokens = subject.split('.').peekable();
    while let Some(token) = tokens.next() {
        if token.is_empty() {
            return Err(Error::invalid(
                what,
                format!("`{subject}` has an empty token"),
            ));
        }
        if token.chars().any(char::is_whitespace) {
            return Err(Error::invalid(
                what,
                format!("`{subject}` contains whitespace"),
            ));
        }
        let wildcard = token == "*" || token == ">";
        if wildcard && !allow_wildcards {
            return Err(Error::invalid(
                what,
                format!("`{subject}` contains a wildcard"),
            ));
        }
        if token == ">" && tokens.peek().is_some() {
            return Err(Error::invalid(
                what,
                format!("`{subject}`: `>` must be the last token"),
            ));
        }
        if !wildcard && (token.contains('*') || token.contains('>')) {
            return Err(Error::invalid(
                what,
                format!("`{subject}`: `*` and `>` must be whole tokens"),
            ));
        }
    }
    Ok(())
}

/// Checks one subject token (a domain, an event type part): non-empty, no whitespace, no
/// `.`, `*` or `>`.
pub fn validate_subject_token(what: &'static str, token: &str) -> Result<()> {
    if token.is_empty() {
        return Err(Error::invalid(what, "must not be empty"));
    }
    if token
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>'))
    {
        return Err(Error::invalid(
            what,
            format!("`{token}` must not contain whitespace, `.`, `*` or `>`"),
        ));
    }
    Ok(())
}

/// Checks a `#[subscribe]` pattern, the part after `events.`: `{domain}.{event_type}` with
/// wildcards, or `>`. Returns the full subject filter.
pub fn event_filter(pattern: &str) -> Result<String> {
    validate_subject(pattern, true)?;
    if pattern.starts_with("events.") {
        return Err(Error::invalid(
            "event pattern",
            format!("`{pattern}`: leave out the `events.` prefix, it is added for you"),
        ));
    }
    if pattern != ">" && !pattern.contains('.') {
        return Err(Error::invalid(
            "event pattern",
            format!(
                "`{pattern}` needs a domain and an event type (`{pattern}.created`, \
                 `{pattern}.*`), or `>` for every event"
            ),
        ));
    }
    Ok(format!("events.{pattern}"))
}

/// `commands.{service}.{command}`.
pub fn command_subject(service: &str, command: &str) -> String {
    format!("commands.{service}.{command}")
}

/// Checks a KV key: `[-/_=.a-zA-Z0-9]+`, not starting or ending with `.` (JetStream KV's
/// rule; every KV adapter applies it, so that the backends refuse the same keys).
pub fn validate_kv_key(key: &str) -> Result<()> {
    let valid = !key.is_empty()
        && !key.starts_with('.')
        && !key.ends_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(
            "kv key",
            format!("`{key}` must be `[-/_=.a-zA-Z0-9]+`, not starting or ending with `.`"),
        ))
    }
}

/// `true` when `subject` (no wildcards) matches `pattern` (NATS rules: `*` is one token,
/// a trailing `>` is one or more tokens).
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut pattern_tokens = pattern.split('.');
    let mut subject_tokens = subject.split('.');
    loop {
        match (pattern_tokens.next(), subject_tokens.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(p), Some(s)) if p == s => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// `rpc.{service}.{method}`: the load-balanced subject of an RPC method.
pub fn rpc_subject(service: &str, method: &str) -> String {
    format!("rpc.{service}.{method}")
}

/// `rpc.{service}.{method}.{instance_id}`: the method on one instance only, for clients that
/// select an instance (Python peers do not subscribe it).
pub fn instance_subject(service: &str, method: &str, instance_id: &str) -> String {
    format!("rpc.{service}.{method}.{instance_id}")
}

/// `rpc.{service}`: the queue group shared by every instance (and method) of a service.
pub fn rpc_queue_group(service: &str) -> String {
    format!("rpc.{service}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_nats() {
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.b.c"));
        assert!(!subject_matches("a.b.c", "a.b"));
        assert!(subject_matches("a.*", "a.b"));
        assert!(!subject_matches("a.*", "a.b.c"));
        assert!(subject_matches("a.*.c", "a.x.c"));
        assert!(subject_matches("a.>", "a.b"));
        assert!(subject_matches("a.>", "a.b.c"));
        assert!(!subject_matches("a.>", "a"));
        assert!(subject_matches(">", "a"));
        assert!(subject_matches("*", "a"));
        assert!(!subject_matches("*", "a.b"));
    }

    #[test]
    fn validation_rejects_malformed_subjects() {
        assert!(validate_subject("rpc.svc.echo", false).is_ok());
        assert!(validate_subject("events.*.created", true).is_ok());
        assert!(validate_subject("events.>", true).is_ok());
        for bad in ["", "a..b", ".a", "a.", "a b", "a.>.b", "a.b*", "a.>x"] {
            assert!(validate_subject(bad, true).is_err(), "{bad:?} accepted");
        }
        assert!(validate_subject("a.*", false).is_err());
    }
}
