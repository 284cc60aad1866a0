//! async-nats errors, mapped into `aegis::Error` (they never leave the adapter as such).

use std::time::Duration;

use async_nats::RequestErrorKind;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::kv::UpdateErrorKind;

use crate::Error;

pub(super) fn request(error: async_nats::RequestError, subject: &str, timeout: Duration) -> Error {
    match error.kind() {
        RequestErrorKind::TimedOut => Error::Timeout {
            subject: subject.to_owned(),
            after: timeout,
        },
        RequestErrorKind::NoResponders => Error::NoResponders {
            subject: subject.to_owned(),
        },
        RequestErrorKind::MaxPayloadExceeded => Error::BadRequest {
            message: format!("request to `{subject}` is too large: {error}"),
        },
        RequestErrorKind::InvalidSubject => {
            Error::invalid("subject", format!("`{subject}`: {error}"))
        }
        _ => Error::Transport(format!("request to `{subject}`: {error}")),
    }
}

pub(super) fn publish(error: async_nats::PublishError, subject: &str) -> Error {
    match error.kind() {
        async_nats::client::PublishErrorKind::MaxPayloadExceeded => Error::BadRequest {
            message: format!("message to `{subject}` is too large: {error}"),
        },
        _ => transport(&format!("publish to `{subject}`"), error),
    }
}

/// A publish into a stream, failed on the way out or in its acknowledgement.
pub(super) fn stream_publish(
    error: async_nats::jetstream::context::PublishError,
    subject: &str,
    timeout: Duration,
) -> Error {
    match error.kind() {
        // The server answered 503: no stream captures the subject.
        PublishErrorKind::StreamNotFound => Error::NoResponders {
            subject: subject.to_owned(),
        },
        PublishErrorKind::TimedOut => Error::Timeout {
            subject: subject.to_owned(),
            after: timeout,
        },
        PublishErrorKind::MaxPayloadExceeded => Error::BadRequest {
            message: format!("message to `{subject}` is too large: {error}"),
        },
        _ => transport(&format!("publish to `{subject}`"), error),
    }
}

/// An error answer of the JetStream API: a 400 is a request the server refuses as such
/// (overlapping subjects, a second consumer on a work queue, ...), the rest is transport.
pub(super) fn jetstream_api(context: &str, error: &async_nats::jetstream::Error) -> Error {
    if error.code() == 400 {
        Error::invalid("stream request", format!("{context}: {error}"))
    } else {
        transport(context, error)
    }
}

pub(super) fn transport(context: &str, error: impl std::fmt::Display) -> Error {
    Error::Transport(format!("{context}: {error}"))
}

pub(super) fn update(error: async_nats::jetstream::kv::UpdateError, key: &str) -> Error {
    match error.kind() {
        UpdateErrorKind::WrongLastRevision => Error::Conflict {
            key: key.to_owned(),
        },
        UpdateErrorKind::InvalidKey => invalid_key(key),
        _ => transport("kv update", error),
    }
}

pub(super) fn invalid_key(key: &str) -> Error {
    match crate::domain::subject::validate_kv_key(key) {
        Err(error) => error,
        // async-nats refused a key our rule accepts.
        Ok(()) => Error::invalid("kv key", format!("`{key}` was refused by the server")),
    }
}
