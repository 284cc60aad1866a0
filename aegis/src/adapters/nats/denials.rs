//! The server's permission denials, for the requests and writes waiting on them.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::Error;

pub(super) const PUBLISH: &str = "publish to";
pub(super) const SUBSCRIBE: &str = "subscribe to";
pub(super) const REPLY: &str = "use as a reply subject";

/// How many recent denials a waiter can still find; older ones are forgotten (the waiter
/// then runs into its timeout, as it would without this log).
const KEPT: usize = 64;

/// A publish or subscription the server refused (`-ERR 'Permissions Violation for ...'`).
/// The server does not say which message it was, only the operation and subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Denial {
    pub(super) operation: &'static str,
    pub(super) subject: String,
}

impl Denial {
    /// `Permissions Violation for Publish to "x"`, `... for Subscription to "x" [using queue
    /// "q"]`, `... for Publish with Reply of "x"` (nats-server's `client.go`).
    pub(super) fn parse(text: &str) -> Option<Denial> {
        let rest = text.strip_prefix("Permissions Violation for ")?;
        let operation = if rest.starts_with("Publish with Reply of ") {
            REPLY
        } else if rest.starts_with("Publish to ") {
            PUBLISH
        } else if rest.starts_with("Subscription to ") {
            SUBSCRIBE
        } else {
            return None;
        };
        let (_, quoted) = rest.split_once('"')?;
        let (subject, _) = quoted.split_once('"')?;
        Some(Denial {
            operation,
            subject: subject.to_owned(),
        })
    }

    fn into_error(self) -> Error {
        Error::PermissionDenied {
            operation: self.operation,
            subject: self.subject,
        }
    }

    /// Whether this refusal is the one a publish to `subject` meets: a refused reply subject
    /// is one of the connection's inboxes, and every request on it is refused alike.
    fn refuses(&self, subject: &str) -> bool {
        self.operation == REPLY || (self.operation == PUBLISH && self.subject == subject)
    }
}

/// Denials, numbered. Every request waits on this log, so waiting must be cheap: a watch
/// (joining costs an atomic increment, waiting is spread over the watch's notify shards),
/// not a broadcast channel, whose single lock every subscribe, wait and drop takes.
#[derive(Debug)]
pub(super) struct DenialLog {
    /// The number of the last denial.
    count: watch::Sender<u64>,
    /// The last [`KEPT`] denials with their numbers, oldest first.
    recent: Mutex<VecDeque<(u64, Denial)>>,
}

impl Default for DenialLog {
    fn default() -> Self {
        DenialLog {
            count: watch::channel(0).0,
            recent: Mutex::new(VecDeque::with_capacity(KEPT)),
        }
    }
}

impl DenialLog {
    pub(super) fn record(&self, denial: Denial) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let number = recent.back().map_or(1, |(n, _)| n + 1);
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back((number, denial));
        // Under the lock: numbers reach waiters in order.
        self.count.send_replace(number);
    }

    /// The first denial after `after`, up to `upto`, that refuses a publish to `subject`.
    fn find(&self, after: u64, upto: u64, subject: &str) -> Option<Denial> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent
            .iter()
            .filter(|(n, _)| *n > after && *n <= upto)
            .find(|(_, denial)| denial.refuses(subject))
            .map(|(_, denial)| denial.clone())
    }

    /// Resolves with [`Error::PermissionDenied`] when a denial recorded from this call on
    /// refuses a publish to `subject`.
    pub(super) fn refusal<S: AsRef<str> + Send + 'static>(
        self: &Arc<Self>,
        subject: S,
    ) -> impl Future<Output = Error> + use<S> {
        let log = Arc::clone(self);
        let mut count = log.count.subscribe();
        let mut seen = *count.borrow_and_update();
        async move {
            loop {
                // The sender lives in `log`, which this future holds: never closed.
                if count.changed().await.is_err() {
                    return std::future::pending().await;
                }
                let upto = *count.borrow_and_update();
                if let Some(denial) = log.find(seen, upto, subject.as_ref()) {
                    return denial.into_error();
                }
                seen = upto;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_permission_errors_name_operation_and_subject() {
        let denial = |text| Denial::parse(text).map(|d| (d.operation, d.subject));
        assert_eq!(
            denial(r#"Permissions Violation for Publish to "rpc.x.y""#),
            Some(("publish to", "rpc.x.y".to_owned()))
        );
        assert_eq!(
            denial(r#"Permissions Violation for Subscription to "rpc.x.>" using queue "rpc.x""#),
            Some(("subscribe to", "rpc.x.>".to_owned()))
        );
        assert_eq!(
            denial(r#"Permissions Violation for Publish with Reply of "_INBOX.a.b""#),
            Some(("use as a reply subject", "_INBOX.a.b".to_owned()))
        );
        assert_eq!(denial("Maximum Payload Violation"), None);
    }

    fn denial(operation: &'static str, subject: &str) -> Denial {
        Denial {
            operation,
            subject: subject.to_owned(),
        }
    }

    #[tokio::test]
    async fn a_waiter_meets_its_subjects_denial_recorded_after_it_began_only() {
        let log = Arc::new(DenialLog::default());
        log.record(denial(PUBLISH, "a"));
        let waiting = tokio::spawn(log.refusal("a"));
        let other = tokio::spawn(log.refusal("b"));
        // Denials for other subjects and of subscriptions do not end the wait.
        log.record(denial(PUBLISH, "c"));
        log.record(denial(SUBSCRIBE, "a"));
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished() && !other.is_finished());
        log.record(denial(PUBLISH, "a"));
        match waiting.await.expect("joins") {
            Error::PermissionDenied { operation, subject } => {
                assert_eq!((operation, subject.as_str()), (PUBLISH, "a"));
            }
            other => panic!("expected a denial, got {other:?}"),
        }
        assert!(!other.is_finished());
        // A refused reply subject refuses every request.
        log.record(denial(REPLY, "_INBOX.x"));
        assert!(matches!(
            other.await.expect("joins"),
            Error::PermissionDenied {
                operation: REPLY,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn denials_recorded_together_are_all_seen() {
        let log = Arc::new(DenialLog::default());
        let waiting = log.refusal("a");
        // Several before the waiter looks: the watch shows only the last number.
        log.record(denial(PUBLISH, "a"));
        log.record(denial(PUBLISH, "b"));
        log.record(denial(PUBLISH, "c"));
        assert!(matches!(
            waiting.await,
            Error::PermissionDenied { operation: PUBLISH, subject } if subject == "a"
        ));
    }
}
