//! Subject grammar (validation, wildcard matching) and every name aegis puts on NATS:
//! subjects, queue groups, streams, consumers, buckets and keys.

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
    // Every request and reply passes here: the common case in one pass over the bytes.
    if plainly_valid(subject.as_bytes()) {
        return Ok(());
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

/// Whether `subject` is valid without a second look: non-empty tokens of printable ASCII
/// without wildcards. Anything else (wildcards, spaces, control bytes, non-ASCII) goes through
/// the detailed checks, which also say what is wrong.
fn plainly_valid(subject: &[u8]) -> bool {
    let mut token_empty = true;
    for &byte in subject {
        match byte {
            b'.' if token_empty => return false,
            b'.' => token_empty = true,
            b'*' | b'>' => return false,
            byte if byte <= b' ' || byte >= 0x7f => return false,
            _ => token_empty = false,
        }
    }
    !token_empty
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
    Ok(event_pattern_subject(pattern))
}

/// `events.{pattern}`: the subject filter of a `#[subscribe]` pattern (the caller has
/// validated it, or the macro did).
pub fn event_pattern_subject(pattern: &str) -> String {
    format!("events.{pattern}")
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

/// `true` when some subject matches both patterns (NATS's "subjects collide").
pub(crate) fn subjects_collide(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.split('.'), b.split('.'));
    loop {
        match (a.next(), b.next()) {
            (Some(">"), Some(_)) | (Some(_), Some(">")) | (None, None) => return true,
            (Some(x), Some(y)) if x == y || x == "*" || y == "*" => {}
            _ => return false,
        }
    }
}

/// `rpc.{service}.{method}`: the load-balanced subject of an RPC method.
pub fn rpc_subject(service: &str, method: &str) -> String {
    // One allocation, no formatting machinery: built for every call.
    ["rpc.", service, ".", method].concat()
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

/// The three NATS micro control subjects (ADR-32) of one verb (`PING`, `INFO`, `STATS`) that
/// an instance answers: `$SRV.{verb}`, `$SRV.{verb}.{service}`, `$SRV.{verb}.{service}.{id}`.
pub fn control_subjects(verb: &str, service: &str, instance_id: &str) -> [String; 3] {
    [
        format!("$SRV.{verb}"),
        format!("$SRV.{verb}.{service}"),
        format!("$SRV.{verb}.{service}.{instance_id}"),
    ]
}

/// The stream events are stored in.
pub const EVENTS_STREAM: &str = "EVENTS";
/// What the events stream captures.
pub const EVENTS_SUBJECTS: &str = "events.>";

/// `events.{domain}.{event_type}` (the caller has validated both).
pub fn event_subject(domain: &str, event_type: &str) -> String {
    format!("events.{domain}.{event_type}")
}

/// The durable consumer of a `#[subscribe]` handler: `{service}-{handler}`, shared by every
/// instance (compete), or `{service}-{handler}-{instance}`, one per instance (broadcast).
pub fn event_consumer(service: &str, handler: &str, instance_id: Option<&str>) -> String {
    match instance_id {
        None => format!("{service}-{handler}"),
        Some(instance_id) => format!("{service}-{handler}-{instance_id}"),
    }
}

/// The work-queue stream commands wait in.
pub const COMMANDS_STREAM: &str = "COMMANDS";
/// What the commands stream captures.
pub const COMMANDS_SUBJECTS: &str = "commands.>";

/// `commands.{service}.{command}`.
pub fn command_subject(service: &str, command: &str) -> String {
    format!("commands.{service}.{command}")
}

/// The durable consumer of a `#[command]` handler, shared by every instance:
/// `{service}-{command}`.
pub fn command_consumer(service: &str, command: &str) -> String {
    format!("{service}-{command}")
}

/// Where cancel requests for `service`'s commands go: `aegis.cancel.{service}.{command_id}`
/// (`*` as the id: every cancel request of the service).
pub fn cancel_subject(service: &str, command_id: &str) -> String {
    format!("aegis.cancel.{service}.{command_id}")
}

/// The inbox a command's progress and outcome come back on: `_INBOX.aegis.{command_id}`.
pub fn command_reply_subject(command_id: &str) -> String {
    inbox_subject("aegis", command_id)
}

/// Where the Python AegisSDK reports a command's progress: `commands.progress.{command_id}`
/// (inside `COMMANDS`: a stream that stores what it captures).
pub fn python_progress_subject(command_id: &str) -> String {
    format!("commands.progress.{command_id}")
}

/// Where the Python AegisSDK reports a command's outcome: `commands.callback.{command_id}`.
pub fn python_callback_subject(command_id: &str) -> String {
    format!("commands.callback.{command_id}")
}

/// `_INBOX.{scope}.{id}`: a reply subject, where callers that expect replies subscribe.
pub fn inbox_subject(scope: &str, id: impl std::fmt::Display) -> String {
    format!("_INBOX.{scope}.{id}")
}

/// The stream dead letters go to.
pub const DEAD_LETTER_STREAM: &str = "DEAD_LETTERS";
/// What the dead-letter stream captures.
pub const DEAD_LETTER_SUBJECTS: &str = "deadletter.>";

/// Where a message that `service` gave up on goes: `deadletter.{service}.{original subject}`.
/// The payload is the original, untouched; headers say why (`Aegis-Dead-Letter-*`).
pub fn dead_letter_subject(service: &str, subject: &str) -> String {
    format!("deadletter.{service}.{subject}")
}

/// The service registry's bucket.
pub const REGISTRY_BUCKET: &str = "service_registry";
/// The first token of every registry key.
pub const REGISTRY_KEY_PREFIX: &str = "service-instances";

/// `service-instances.{service}.{instance_id}`.
pub fn registry_key(service: &str, instance_id: &str) -> String {
    format!("{REGISTRY_KEY_PREFIX}.{service}.{instance_id}")
}

/// `service-instances.{service}.`: what every key of `service`'s instances starts with.
pub fn registry_service_prefix(service: &str) -> String {
    format!("{REGISTRY_KEY_PREFIX}.{service}.")
}

/// `{prefix}.>`: every key under `prefix` (a watch pattern).
pub fn keys_under(prefix: &str) -> String {
    format!("{prefix}.>")
}

/// The service name in a registry key, if it is one.
pub fn service_of_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(REGISTRY_KEY_PREFIX)?.strip_prefix('.')?;
    let (service, instance) = rest.split_once('.')?;
    (!service.is_empty() && !instance.is_empty()).then_some(service)
}

/// What separates the tokens of a Python-form registry key.
const PYTHON_SEPARATOR: &str = "__";

/// `service-instances__{service}__{instance_id}`: the key the Python SDK (HEAD) writes and
/// reads. One token: its KV layer refuses keys with dots.
pub fn python_registry_key(service: &str, instance_id: &str) -> String {
    format!("{REGISTRY_KEY_PREFIX}{PYTHON_SEPARATOR}{service}{PYTHON_SEPARATOR}{instance_id}")
}

/// `service-instances__{service}__`: what every Python-form key of `service`'s instances
/// starts with (and, as `__` may occur in names, some of other services' too).
pub fn python_registry_service_prefix(service: &str) -> String {
    format!("{REGISTRY_KEY_PREFIX}{PYTHON_SEPARATOR}{service}{PYTHON_SEPARATOR}")
}

/// Every service name a Python-form registry key can belong to, the one Python's own
/// `split("__")` reads first. `__` is ambiguous when names hold `_` (`a___b` is service
/// `a`, instance `_b`, or service `a_`, instance `b`), so a reader that must not miss the
/// service (a cache invalidation) takes them all; one that has the value trusts its
/// `serviceName`. Rust names cannot be ambiguous: service names hold no `_`, and instance
/// ids start with a letter or digit. Empty for any other key.
pub fn python_key_services(key: &str) -> impl Iterator<Item = &str> {
    let rest = key
        .strip_prefix(REGISTRY_KEY_PREFIX)
        .and_then(|rest| rest.strip_prefix(PYTHON_SEPARATOR))
        .unwrap_or("");
    rest.match_indices('_')
        .map(|(at, _)| at)
        .filter(move |&at| {
            at > 0
                && rest[at..].starts_with(PYTHON_SEPARATOR)
                && at + PYTHON_SEPARATOR.len() < rest.len()
        })
        .map(move |at| &rest[..at])
}

/// `election_{service}`: the bucket holding the leader lease of `service`'s groups.
pub fn election_bucket(service: &str) -> String {
    format!("election_{service}")
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
    fn python_registry_keys() {
        let key = python_registry_key("echo-service", "echo-service-1a2b3c4d");
        assert_eq!(
            key,
            "service-instances__echo-service__echo-service-1a2b3c4d"
        );
        assert!(key.starts_with(&python_registry_service_prefix("echo-service")));
        assert!(validate_kv_key(&key).is_ok());
        fn services(key: &str) -> Vec<&str> {
            python_key_services(key).collect()
        }
        assert_eq!(services(&key), ["echo-service"]);
        assert_eq!(services("service-instances__my_svc__my_svc-1"), ["my_svc"]);
        // Every reading of an ambiguous key, Python's first.
        assert_eq!(services("service-instances__a___b"), ["a", "a_"]);
        assert_eq!(services("service-instances__a__b__c"), ["a", "a__b"]);
        for not_one in [
            "service-instances__echo",
            "service-instances__echo__",
            "service-instances____x",
            "service-instances.echo.echo-1",
            "service-instances_echo_echo-1",
            "echo-service",
        ] {
            assert!(services(not_one).is_empty(), "{not_one}");
        }
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
        // The one-pass check and the detailed one agree: what the first declines, the second
        // judges.
        for good in [
            "_INBOX.Ab3.x9",
            "$JS.API.STREAM.INFO.KV_b",
            "a.é",
            "a-b.c_d.~",
        ] {
            assert!(validate_subject(good, false).is_ok(), "{good:?} refused");
        }
        for bad in ["a\u{b}b", "a.\u{a0}", "a\tb", "a.b.", "a>b"] {
            assert!(validate_subject(bad, false).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn subjects_collide_like_nats() {
        for (a, b) in [
            ("a.>", "a.b"),
            ("a.*", "a.b"),
            ("*.b", "a.*"),
            (">", "x.y.z"),
        ] {
            assert!(subjects_collide(a, b), "{a} {b}");
            assert!(subjects_collide(b, a), "{b} {a}");
        }
        for (a, b) in [
            ("a.>", "a"),
            ("a.*", "a.b.c"),
            ("a.b", "a.c"),
            ("a.*", "b.>"),
        ] {
            assert!(!subjects_collide(a, b), "{a} {b}");
            assert!(!subjects_collide(b, a), "{b} {a}");
        }
    }
}
