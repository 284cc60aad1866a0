//! The one error type that crosses module boundaries.

use std::time::Duration;

use crate::domain::envelope::codes;

/// Result alias used throughout aegis.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in aegis, as kinds a caller can match on.
///
/// Transport details stay private to the adapters; what reaches you is one of these variants.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nobody is subscribed to the subject (NATS answers a request at once with 503).
    #[error("no responders for `{subject}`")]
    NoResponders {
        /// The request subject.
        subject: String,
    },
    /// No reply arrived in time.
    #[error("request to `{subject}` timed out after {after:?}")]
    Timeout {
        /// The request subject.
        subject: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The instance that answered is a standby; retry to reach the active one.
    #[error("NOT_ACTIVE: {message}")]
    NotActive {
        /// Explanation from the instance.
        message: String,
    },
    /// The request could not be decoded or failed validation.
    #[error("bad request: {message}")]
    BadRequest {
        /// What was wrong with it.
        message: String,
    },
    /// A reply could not be decoded: it is not an AegisSDK envelope in MessagePack or JSON,
    /// or its result does not fit the type the caller expects (the caller's and the
    /// service's types disagree). Unlike [`Error::BadRequest`], the fault is not the
    /// request's: the call may have run.
    #[error("cannot decode the reply of `{subject}`: {message}")]
    Decode {
        /// The subject the request or command was sent to.
        subject: String,
        /// What the decoder said.
        message: String,
    },
    /// The remote handler returned an error.
    #[error("remote error {code}: {message}")]
    Remote {
        /// Numeric code (the `Nats-Service-Error-Code` convention: 4xx caller, 5xx service).
        code: u16,
        /// Human-readable message.
        message: String,
    },
    /// A KV compare-and-set failed: the key exists, or its revision moved on.
    #[error("kv conflict on `{key}`")]
    Conflict {
        /// The key.
        key: String,
    },
    /// A name, subject or configuration value is invalid.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What was being validated ("service name", "version", ...).
        what: &'static str,
        /// Why it was rejected.
        message: String,
    },
    /// The server refused the operation: the connection's user has no permission for the
    /// subject (see `docs/connecting.md` for what services and clients need).
    #[error(
        "permission denied: the NATS server does not allow this user to {operation} `{subject}`"
    )]
    PermissionDenied {
        /// What was refused: "publish to", "subscribe to", "use as a reply subject".
        operation: &'static str,
        /// The subject the server named.
        subject: String,
    },
    /// What was asked for by its name or number is not there (a dead letter, say).
    #[error("{what} `{name}` not found")]
    NotFound {
        /// What was looked for ("dead letter", ...).
        what: &'static str,
        /// Its name or number.
        name: String,
    },
    /// The component was already stopped or closed.
    #[error("closed: {0}")]
    Closed(String),
    /// The transport failed (connection lost, server error, ...).
    #[error("transport: {0}")]
    Transport(String),
}

impl Error {
    pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            what,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Error::BadRequest {
            message: message.into(),
        }
    }

    pub(crate) fn decode(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Decode {
            subject: subject.into(),
            message: message.into(),
        }
    }

    /// An error from a remote code (if known) and its `"{NAME}: message"` text: the code given,
    /// else the prefix's, else 500; the message without the prefix.
    pub(crate) fn from_remote(code: Option<u16>, text: &str) -> Error {
        let (prefix_code, message) = match text.split_once(": ") {
            Some((name, rest)) => match codes::from_name(name) {
                Some(code) => (Some(code), rest),
                None => (None, text),
            },
            None => (codes::from_name(text), text),
        };
        let code = code.or(prefix_code).unwrap_or(codes::INTERNAL);
        let message = message.to_owned();
        if code == codes::NOT_ACTIVE || text.starts_with("NOT_ACTIVE") {
            Error::NotActive { message }
        } else if code == codes::BAD_REQUEST {
            Error::BadRequest { message }
        } else {
            Error::Remote { code, message }
        }
    }

    /// The variant in snake case (`no_responders`, `timeout`, `remote`, ...): the `kind` label
    /// of the client's error metrics.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Error::NoResponders { .. } => "no_responders",
            Error::Timeout { .. } => "timeout",
            Error::NotActive { .. } => "not_active",
            Error::BadRequest { .. } => "bad_request",
            Error::Decode { .. } => "decode",
            Error::Remote { .. } => "remote",
            Error::Conflict { .. } => "conflict",
            Error::Invalid { .. } => "invalid",
            Error::PermissionDenied { .. } => "permission_denied",
            Error::NotFound { .. } => "not_found",
            Error::Closed(_) => "closed",
            Error::Transport(_) => "transport",
        }
    }

    /// `true` for errors worth retrying against another instance: no responders or not active.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::NoResponders { .. } | Error::NotActive { .. })
    }
}
