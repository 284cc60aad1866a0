//! The latest entry of every key matching a pattern, read in batched direct gets
//! (nats-server 2.11 and later, ADR-31). Any replica of the bucket's stream answers them, so,
//! unlike the consumer behind a key listing, they need neither the stream leader nor the
//! JetStream meta leader: with one node of a cluster down they still answer at once. A request
//! that goes unanswered (lost with a node that died, or sent while the node the client
//! reconnected to knows no replica serving it yet) is asked again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::header::{IntoHeaderName, NATS_MARKER_REASON, NATS_SEQUENCE, NATS_SUBJECT};
use async_nats::jetstream::kv;
use async_nats::{Message, StatusCode};
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use tokio::time::Instant;

use super::error;
use super::stats::ConnectionStats;
use crate::ports::{KvEntry, KvOperation};
use crate::{Error, Result};

/// Entries per answer; further pages follow while the server says more are pending.
const BATCH: usize = 256;

/// The wait for each message of an answer before asking again: a replica answers in
/// milliseconds, and a request sent just as the node it went through died is lost.
const ATTEMPT_WAIT: Duration = Duration::from_secs(1);
/// The pause before asking again after "no responders", doubling up to `MAX_PAUSE`: right
/// after a node dies, the node the client reconnected to can briefly know no replica that
/// serves direct gets.
const FIRST_PAUSE: Duration = Duration::from_millis(25);
const MAX_PAUSE: Duration = Duration::from_millis(400);

// The statuses that end an answer (nats-server's `getDirectMulti`).
/// The end of a batch ("204 EOB").
const END_OF_BATCH: u16 = 204;
/// "404 No Results", or "404 Message Not Found" (a matched message failed to load).
const NOT_FOUND: u16 = 404;
/// "408 Empty Request", "408 Bad Request": a request the server does not take.
const REFUSED: u16 = 408;
/// "413 Too Many Results": more than 1024 subjects match.
const TOO_MANY_RESULTS: u16 = 413;
/// No responders: no replica the server knows of serves direct gets on the stream.
const NO_RESPONDERS: u16 = 503;

/// How many matching subjects follow this message in the whole answer.
const NUM_PENDING: &str = "Nats-Num-Pending";
/// On the end of batch: the stream sequence the answer was read up to.
const UP_TO_SEQUENCE: &str = "Nats-UpTo-Sequence";
/// What a KV write was (`DEL`, `PURGE`; absent on a put).
const KV_OPERATION: &str = "KV-Operation";

/// A batched direct get's answer.
#[derive(Debug)]
pub(super) enum Answer {
    /// The latest entries of the keys with a live value, sorted by key.
    Entries(Vec<KvEntry>),
    /// The server cannot answer with a batched direct get (why, for the log).
    Unsupported(String),
}

/// Where one bucket's batched direct gets go.
#[derive(Debug, Clone)]
pub(super) struct DirectGet {
    client: async_nats::Client,
    stats: Arc<ConnectionStats>,
    /// `{api prefix}.DIRECT.GET.KV_{bucket}`.
    subject: String,
    /// `$KV.{bucket}.`: a key's subject is this and the key.
    key_prefix: String,
    /// The stream allows direct gets (KV buckets do, unless made by hand without).
    allowed: bool,
    /// How long one page is asked for (again and again while unanswered).
    timeout: Duration,
}

/// The JSON body of a direct get request.
#[derive(Debug, Serialize)]
struct Request<'a> {
    multi_last: [&'a str; 1],
    batch: usize,
    /// Skips matches stored before this sequence (the next page).
    #[serde(rename = "seq", skip_serializing_if = "Option::is_none")]
    from: Option<u64>,
    /// Reads as of this sequence, so that later pages see the same state as the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    up_to_seq: Option<u64>,
}

/// One answer to one request.
#[derive(Debug)]
enum Page {
    Read {
        found: Vec<Found>,
        next: Option<Next>,
    },
    NoneMatched,
    Unsupported(String),
}

/// One request sent: answered, or not.
#[derive(Debug)]
enum Attempt {
    Answered(Page),
    Unanswered(Unanswered),
}

/// Why a request went unanswered; both pass, so it is asked again.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unanswered {
    NoResponders,
    Silence,
}

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Next {
    from: u64,
    up_to: Option<u64>,
}

/// One key's latest message in an answer.
#[derive(Debug, PartialEq)]
struct Found {
    key: String,
    revision: u64,
    /// `None`: deleted, purged or removed by `max_age` (a delete marker).
    value: Option<Bytes>,
    /// Matching keys after this one in the whole answer.
    pending: u64,
}

impl DirectGet {
    pub(super) fn new(
        client: async_nats::Client,
        stats: Arc<ConnectionStats>,
        api_prefix: &str,
        store: &kv::Store,
        timeout: Duration,
    ) -> Self {
        DirectGet {
            client,
            stats,
            subject: format!("{api_prefix}.DIRECT.GET.{}", store.stream_name),
            key_prefix: store.prefix.clone(),
            allowed: store.stream.cached_info().config.allow_direct,
            timeout,
        }
    }

    /// Whether to try: the stream allows direct gets (asking one that does not would wait
    /// out the timeout whenever anything else subscribes to the API subjects, as monitoring
    /// does) and the server this connection is on is 2.11 or later (a version that does not
    /// parse is tried: the answer tells).
    pub(super) fn worth_trying(&self) -> bool {
        self.allowed && supports(&self.client.server_info().version)
    }

    /// The latest live entry of every key matching `pattern` (a valid pattern).
    pub(super) async fn latest(&self, pattern: &str) -> Result<Answer> {
        let filter = format!("{}{pattern}", self.key_prefix);
        let mut request = Request {
            multi_last: [&filter],
            batch: BATCH,
            from: None,
            up_to_seq: None,
        };
        let mut latest = Latest::default();
        loop {
            match self.answered_page(&request).await? {
                Page::Unsupported(why) => return Ok(Answer::Unsupported(why)),
                Page::NoneMatched => break,
                Page::Read { found, next } => {
                    found.into_iter().for_each(|f| latest.record(f));
                    let Some(next) = next else { break };
                    request.from = Some(next.from);
                    request.up_to_seq = next.up_to;
                }
            }
        }
        Ok(Answer::Entries(latest.live()))
    }

    /// One page, asked again while unanswered, for up to `timeout`.
    async fn answered_page(&self, request: &Request<'_>) -> Result<Page> {
        let deadline = Instant::now() + self.timeout;
        let mut pause = FIRST_PAUSE;
        loop {
            let wait = ATTEMPT_WAIT.min(deadline.saturating_duration_since(Instant::now()));
            let why = match self.page(request, wait).await? {
                Attempt::Unanswered(why) => why,
                Attempt::Answered(page) => return Ok(page),
            };
            if Instant::now() + pause >= deadline {
                return match why {
                    // Direct gets turned off since the bucket was opened: a listing works.
                    Unanswered::NoResponders => Ok(Page::Unsupported(
                        "no replica serves direct gets".to_owned(),
                    )),
                    Unanswered::Silence => Err(Error::Timeout {
                        subject: self.subject.clone(),
                        after: self.timeout,
                    }),
                };
            }
            tracing::debug!(subject = %self.subject, ?why, "direct get unanswered; asking again");
            if why == Unanswered::NoResponders {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }

    /// One request, and its answer read until the status that ends it, or until no message
    /// came for `wait`.
    async fn page(&self, request: &Request<'_>, wait: Duration) -> Result<Attempt> {
        let body = serde_json::to_vec(request)
            .map_err(|e| error::transport("encoding a direct get", e))?;
        // Our own inbox: the answer is many messages, which a request would cut to one.
        let inbox = self.client.new_inbox();
        let mut answer = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| error::transport("subscribing for a direct get", e))?;
        // A refused request gets no answer, only an error on the connection.
        let denied = self.stats.publish_denied(self.subject.clone());
        tokio::pin!(denied);
        self.client
            .publish_with_reply(self.subject.clone(), inbox, Bytes::from(body))
            .await
            .map_err(|e| error::publish(e, &self.subject))?;
        let mut found = Vec::new();
        loop {
            let next = tokio::select! {
                biased;
                next = tokio::time::timeout(wait, answer.next()) => next,
                error = &mut denied => return Err(error),
            };
            let message = match next {
                Ok(Some(message)) => message,
                Ok(None) => {
                    return Err(Error::Transport(format!(
                        "direct get on `{}`: the subscription closed",
                        self.subject
                    )));
                }
                Err(_) => return Ok(Attempt::Unanswered(Unanswered::Silence)),
            };
            let Some(status) = message.status else {
                match parse(&message, &self.key_prefix).map_err(|what| self.malformed(what))? {
                    Some(entry) => found.push(entry),
                    None => {
                        let page = Page::Unsupported(NOT_BATCHED.to_owned());
                        return Ok(Attempt::Answered(page));
                    }
                }
                continue;
            };
            let description = message.description.as_deref().unwrap_or_default();
            let up_to = header(&message, UP_TO_SEQUENCE).and_then(|v| v.parse().ok());
            return end(status, description, up_to, found).ok_or_else(|| {
                Error::Transport(format!(
                    "direct get on `{}`: {status} {description}",
                    self.subject
                ))
            });
        }
    }

    fn malformed(&self, what: &str) -> Error {
        Error::Transport(format!(
            "direct get on `{}`: an answer with {what}",
            self.subject
        ))
    }
}

/// What the status message that ends every answer means; `None` for an error.
fn end(
    status: StatusCode,
    description: &str,
    up_to: Option<u64>,
    found: Vec<Found>,
) -> Option<Attempt> {
    let page = match status.as_u16() {
        END_OF_BATCH => {
            let next = next_page(&found, up_to);
            Page::Read { found, next }
        }
        // "Message Not Found" is a matched message that failed to load; else none matched.
        NOT_FOUND if found.is_empty() && description != "Message Not Found" => Page::NoneMatched,
        // Before 2.11 the server takes `multi_last` for an empty request; later ones refuse
        // fields they do not take together.
        REFUSED | TOO_MANY_RESULTS => Page::Unsupported(format!("{status} {description}")),
        NO_RESPONDERS => return Some(Attempt::Unanswered(Unanswered::NoResponders)),
        _ => return None,
    };
    Some(Attempt::Answered(page))
}

/// A message of a batched answer; `None` when it is not one (no pending count: a server that
/// took the request for a single get); `Err` names what is wrong with it.
fn parse(message: &Message, key_prefix: &str) -> std::result::Result<Option<Found>, &'static str> {
    let Some(pending) = header(message, NUM_PENDING) else {
        return Ok(None);
    };
    let subject = header(message, NATS_SUBJECT).ok_or("no subject")?;
    let key = subject
        .strip_prefix(key_prefix)
        .ok_or("a subject outside the bucket")?;
    let revision = header(message, NATS_SEQUENCE)
        .and_then(|v| v.parse().ok())
        .ok_or("no sequence")?;
    let pending = pending.parse().map_err(|_| "an unreadable pending count")?;
    // Deletes and purges, and the markers the server leaves when `max_age` removes a value.
    let deleted = matches!(header(message, KV_OPERATION), Some("DEL" | "PURGE"))
        || header(message, NATS_MARKER_REASON).is_some();
    Ok(Some(Found {
        key: key.to_owned(),
        revision,
        value: (!deleted).then(|| message.payload.clone()),
        pending,
    }))
}

/// Returned when an answer turns out not to be a batched one.
const NOT_BATCHED: &str = "the server answered with a single message";

fn header(message: &Message, name: impl IntoHeaderName) -> Option<&str> {
    message
        .headers
        .as_ref()?
        .get_last(name)
        .map(async_nats::HeaderValue::as_str)
}

/// The next page, when the last message says more keys match. The pending count of the last
/// message is used rather than that of the end of batch, which 2.11.0 gives one too low.
fn next_page(found: &[Found], up_to: Option<u64>) -> Option<Next> {
    let last = found.last()?;
    (last.pending > 0).then(|| Next {
        from: last.revision + 1,
        up_to,
    })
}

/// `true` for nats-server 2.11 and later, and for a version that does not parse.
fn supports(version: &str) -> bool {
    let mut numbers = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|part| part.parse::<u32>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (2, 11),
        _ => true,
    }
}

/// Each key's latest message seen: pages read without `up_to_seq` (a server that did not
/// give it) can show a key again, changed.
#[derive(Debug, Default)]
struct Latest {
    by_key: BTreeMap<String, (u64, Option<Bytes>)>,
}

impl Latest {
    fn record(&mut self, found: Found) {
        let newer = self
            .by_key
            .get(&found.key)
            .is_none_or(|(revision, _)| found.revision > *revision);
        if newer {
            self.by_key.insert(found.key, (found.revision, found.value));
        }
    }

    /// The keys with a live value, sorted.
    fn live(self) -> Vec<KvEntry> {
        self.by_key
            .into_iter()
            .filter_map(|(key, (revision, value))| {
                Some(KvEntry {
                    key,
                    value: value?,
                    revision,
                    operation: KvOperation::Put,
                })
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message(headers: &[(&str, &str)]) -> Message {
        let mut map = async_nats::HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, *value);
        }
        Message {
            subject: "_INBOX.x".into(),
            reply: None,
            payload: Bytes::from_static(b"value"),
            headers: Some(map),
            status: None,
            description: None,
            length: 0,
        }
    }

    fn stored(seq: &str, pending: &str, extra: &[(&str, &str)]) -> Message {
        let mut headers = vec![
            ("Nats-Stream", "KV_b"),
            ("Nats-Subject", "$KV.b.svc.a"),
            ("Nats-Sequence", seq),
            ("Nats-Time-Stamp", "2025-01-01T00:00:00Z"),
            ("Nats-Num-Pending", pending),
            ("Nats-Last-Sequence", "0"),
        ];
        headers.extend_from_slice(extra);
        message(&headers)
    }

    fn entry(key: &str, revision: u64, value: Option<&'static [u8]>, pending: u64) -> Found {
        Found {
            key: key.to_owned(),
            revision,
            value: value.map(Bytes::from_static),
            pending,
        }
    }

    #[test]
    fn a_stored_message_gives_its_key_revision_value_and_pending_count() {
        assert_eq!(
            parse(&stored("7", "2", &[]), "$KV.b.").unwrap(),
            Some(entry("svc.a", 7, Some(b"value"), 2))
        );
    }

    #[test]
    fn deletes_purges_and_expiry_markers_carry_no_value() {
        for marker in [
            ("KV-Operation", "DEL"),
            ("KV-Operation", "PURGE"),
            ("Nats-Marker-Reason", "MaxAge"),
            ("Nats-Marker-Reason", "Remove"),
        ] {
            let parsed = parse(&stored("7", "0", &[marker]), "$KV.b.").unwrap();
            assert_eq!(parsed, Some(entry("svc.a", 7, None, 0)), "{marker:?}");
        }
    }

    #[test]
    fn a_message_without_a_pending_count_is_not_a_batched_answer() {
        let single = message(&[("Nats-Subject", "$KV.b.k"), ("Nats-Sequence", "1")]);
        assert_eq!(parse(&single, "$KV.b.").unwrap(), None);
        assert!(parse(&stored("7", "0", &[]), "$KV.other.").is_err());
        assert!(parse(&stored("x", "0", &[]), "$KV.b.").is_err());
    }

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn the_end_of_batch_asks_for_more_while_keys_are_pending() {
        let more = vec![entry("a", 3, None, 0), entry("b", 5, Some(b"v"), 4)];
        let Some(Attempt::Answered(Page::Read { next, found })) =
            end(status(204), "EOB", Some(9), more)
        else {
            panic!("a page");
        };
        assert_eq!(found.len(), 2);
        assert_eq!(
            next,
            Some(Next {
                from: 6,
                up_to: Some(9)
            })
        );
        let done = vec![entry("a", 3, None, 0)];
        let Some(Attempt::Answered(Page::Read { next, .. })) =
            end(status(204), "EOB", Some(9), done)
        else {
            panic!("a page");
        };
        assert_eq!(next, None);
    }

    #[test]
    fn statuses_that_end_an_answer() {
        let none = || Vec::new();
        assert!(matches!(
            end(status(404), "No Results", None, none()),
            Some(Attempt::Answered(Page::NoneMatched))
        ));
        assert!(end(status(404), "Message Not Found", None, none()).is_none());
        assert!(
            end(
                status(404),
                "No Results",
                None,
                vec![entry("a", 1, None, 1)]
            )
            .is_none()
        );
        assert!(matches!(
            end(status(503), "", None, none()),
            Some(Attempt::Unanswered(Unanswered::NoResponders))
        ));
        for (code, text) in [(408, "Empty Request"), (413, "Too Many Results")] {
            assert!(
                matches!(
                    end(status(code), text, None, none()),
                    Some(Attempt::Answered(Page::Unsupported(_)))
                ),
                "{code}"
            );
        }
        assert!(end(status(500), "boom", None, none()).is_none());
    }

    #[test]
    fn batched_direct_get_needs_nats_server_2_11() {
        for old in ["2.10.29", "2.9.0", "1.4.1", "v2.10.0"] {
            assert!(!supports(old), "{old}");
        }
        for new in ["2.11.0", "2.11.0-RC.1", "2.15.1", "3.0.0", "", "dev"] {
            assert!(supports(new), "{new}");
        }
    }

    #[test]
    fn the_latest_revision_of_each_key_wins_and_deleted_keys_are_left_out() {
        let mut latest = Latest::default();
        latest.record(entry("b", 2, Some(b"b2"), 0));
        latest.record(entry("a", 4, Some(b"a4"), 0));
        latest.record(entry("a", 3, Some(b"a3"), 0));
        latest.record(entry("c", 5, Some(b"c5"), 0));
        latest.record(entry("c", 6, None, 0));
        let live: Vec<(String, u64, Bytes)> = latest
            .live()
            .into_iter()
            .map(|e| (e.key, e.revision, e.value))
            .collect();
        assert_eq!(
            live,
            [
                ("a".to_owned(), 4, Bytes::from_static(b"a4")),
                ("b".to_owned(), 2, Bytes::from_static(b"b2")),
            ]
        );
    }

    #[test]
    fn requests_name_the_pattern_and_the_next_page() {
        let mut request = Request {
            multi_last: ["$KV.b.svc.>"],
            batch: BATCH,
            from: None,
            up_to_seq: None,
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"multi_last":["$KV.b.svc.>"],"batch":256}"#
        );
        (request.from, request.up_to_seq) = (Some(6), Some(9));
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"multi_last":["$KV.b.svc.>"],"batch":256,"seq":6,"up_to_seq":9}"#
        );
    }
}
