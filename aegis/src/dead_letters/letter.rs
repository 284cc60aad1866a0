//! One dead letter as read back: what its headers say, parsed leniently.

use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;

use crate::domain::headers::dead_letter as headers;
use crate::ports::{Headers, MSG_ID_HEADER, StoredMessage};

/// The prefix of every header a dead-lettering adds.
const DEAD_LETTER_HEADER_PREFIX: &str = "Aegis-Dead-Letter-";

/// A message a handler gave up on, as stored in the `DEAD_LETTERS` stream.
///
/// Every header is optional: a dead letter written by an older version, or by hand, still
/// reads (missing facts are `None`; the service and subject then come from the dead letter's
/// own subject, `deadletter.{service}.{original subject}`).
///
/// Serialized (for `--json` output) as an object with these fields: `sequence`, `service`,
/// `subject`, `reason`, `code`, `stream`, `stream_sequence`, `consumer`, `deliveries`,
/// `message_id` (`null` when unknown), `stored` (RFC 3339, UTC), `headers` (the original
/// ones, as `[name, value]` pairs in order), and the payload: `payload`, the JSON value
/// itself when the payload is UTF-8 JSON, else `payload_base64` (standard alphabet, with
/// padding); the other of the two is `null`. MessagePack payloads (aegis's default codec)
/// therefore come as base64.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    sequence: u64,
    service: String,
    subject: String,
    reason: Option<String>,
    code: Option<u16>,
    stream: Option<String>,
    stream_sequence: Option<u64>,
    consumer: Option<String>,
    deliveries: Option<u64>,
    message_id: Option<String>,
    stored: SystemTime,
    headers: Headers,
    payload: Bytes,
}

impl DeadLetter {
    /// Reads a message of the `DEAD_LETTERS` stream.
    pub(super) fn parse(stored: StoredMessage) -> Self {
        let StoredMessage {
            sequence,
            message,
            published,
        } = stored;
        let all = &message.headers;
        let text = |name: &str| all.get(name).map(str::to_owned);
        let number = |name: &str| all.get(name).and_then(|v| v.trim().parse::<u64>().ok());
        // `deadletter.{service}.{original subject}`
        let rest = message.subject.strip_prefix("deadletter.").unwrap_or("");
        let (service, original) = rest.split_once('.').unwrap_or((rest, ""));
        DeadLetter {
            sequence,
            service: service.to_owned(),
            subject: text(headers::SUBJECT).unwrap_or_else(|| original.to_owned()),
            reason: text(headers::REASON),
            code: number(headers::CODE).and_then(|c| u16::try_from(c).ok()),
            stream: text(headers::STREAM),
            stream_sequence: number(headers::SEQUENCE),
            consumer: text(headers::CONSUMER),
            deliveries: number(headers::DELIVERIES),
            message_id: text(headers::MSG_ID),
            stored: published,
            headers: original_headers(all),
            payload: message.payload,
        }
    }

    /// Its sequence in the `DEAD_LETTERS` stream: what [`get`](super::DeadLetters::get),
    /// [`replay`](super::DeadLetters::replay) and [`purge`](super::DeadLetters::purge) take.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The service whose handler gave up.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The subject it was published on, where a replay sends it.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The error text (on one line).
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The error code (4xx: the message was at fault; 5xx: the handler kept failing).
    pub fn code(&self) -> Option<u16> {
        self.code
    }

    /// The stream it was stored in (`EVENTS`, `COMMANDS`).
    pub fn stream(&self) -> Option<&str> {
        self.stream.as_deref()
    }

    /// Its sequence in that stream.
    pub fn stream_sequence(&self) -> Option<u64> {
        self.stream_sequence
    }

    /// The durable consumer that gave up.
    pub fn consumer(&self) -> Option<&str> {
        self.consumer.as_deref()
    }

    /// How many times it was delivered.
    pub fn deliveries(&self) -> Option<u64> {
        self.deliveries
    }

    /// Its original `Nats-Msg-Id`.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// When it was dead-lettered (stored in `DEAD_LETTERS`).
    pub fn stored(&self) -> SystemTime {
        self.stored
    }

    /// The original headers: without the `Aegis-Dead-Letter-*` ones and the dead letter's
    /// own `Nats-Msg-Id` (the original one is [`message_id`](Self::message_id)).
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The original payload, untouched.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}

fn original_headers(all: &Headers) -> Headers {
    let mut kept = Headers::new();
    for (name, value) in all.iter() {
        if name != MSG_ID_HEADER && !name.starts_with(DEAD_LETTER_HEADER_PREFIX) {
            kept.insert(name, value);
        }
    }
    kept
}

#[derive(Serialize)]
struct View<'a> {
    sequence: u64,
    service: &'a str,
    subject: &'a str,
    reason: Option<&'a str>,
    code: Option<u16>,
    stream: Option<&'a str>,
    stream_sequence: Option<u64>,
    consumer: Option<&'a str>,
    deliveries: Option<u64>,
    message_id: Option<&'a str>,
    stored: String,
    headers: Vec<(&'a str, &'a str)>,
    payload: Option<&'a serde_json::value::RawValue>,
    payload_base64: Option<String>,
}

impl Serialize for DeadLetter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let json = std::str::from_utf8(&self.payload)
            .ok()
            .and_then(|text| serde_json::from_str::<&serde_json::value::RawValue>(text).ok());
        let base64 = json
            .is_none()
            .then(|| base64::engine::general_purpose::STANDARD.encode(&self.payload));
        let stored = time::OffsetDateTime::from(self.stored)
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(serde::ser::Error::custom)?;
        View {
            sequence: self.sequence,
            service: &self.service,
            subject: &self.subject,
            reason: self.reason(),
            code: self.code,
            stream: self.stream(),
            stream_sequence: self.stream_sequence,
            consumer: self.consumer(),
            deliveries: self.deliveries,
            message_id: self.message_id(),
            stored,
            headers: self.headers.iter().collect(),
            payload: json,
            payload_base64: base64,
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ports::Message;

    fn stored(subject: &str, headers: &[(&str, &str)], payload: &'static [u8]) -> StoredMessage {
        let mut message = Message::new(subject, payload);
        for (name, value) in headers {
            message.headers.insert(*name, *value);
        }
        StoredMessage {
            sequence: 9,
            message,
            published: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_250),
        }
    }

    #[test]
    fn every_fact_comes_from_its_header_and_original_headers_are_kept_apart() {
        let letter = DeadLetter::parse(stored(
            "deadletter.ledger.events.ledger.created",
            &[
                ("traceparent", "00-x"),
                (headers::MSG_ID, "m-1"),
                (headers::REASON, "INTERNAL: boom"),
                (headers::CODE, "500"),
                (headers::SUBJECT, "events.ledger.created"),
                (headers::STREAM, "EVENTS"),
                (headers::SEQUENCE, "41"),
                (headers::CONSUMER, "ledger-created"),
                (headers::DELIVERIES, "4"),
                (MSG_ID_HEADER, "dl-EVENTS-41-ledger-created"),
            ],
            b"{\"n\":7}",
        ));
        assert_eq!(letter.sequence(), 9);
        assert_eq!(letter.service(), "ledger");
        assert_eq!(letter.subject(), "events.ledger.created");
        assert_eq!(letter.reason(), Some("INTERNAL: boom"));
        assert_eq!(letter.code(), Some(500));
        assert_eq!(letter.stream(), Some("EVENTS"));
        assert_eq!(letter.stream_sequence(), Some(41));
        assert_eq!(letter.consumer(), Some("ledger-created"));
        assert_eq!(letter.deliveries(), Some(4));
        assert_eq!(letter.message_id(), Some("m-1"));
        assert_eq!(
            letter.headers().iter().collect::<Vec<_>>(),
            [("traceparent", "00-x")]
        );
        assert_eq!(&letter.payload()[..], b"{\"n\":7}");
    }

    #[test]
    fn a_dead_letter_without_headers_still_reads_from_its_subject() {
        let letter = DeadLetter::parse(stored(
            "deadletter.billing.commands.billing.charge",
            &[(headers::CODE, "not a number"), (headers::DELIVERIES, "")],
            b"",
        ));
        assert_eq!(letter.service(), "billing");
        assert_eq!(letter.subject(), "commands.billing.charge");
        assert_eq!((letter.code(), letter.deliveries()), (None, None));
        assert_eq!((letter.reason(), letter.stream()), (None, None));
        let odd = DeadLetter::parse(stored("deadletter.alone", &[], b""));
        assert_eq!((odd.service(), odd.subject()), ("alone", ""));
    }

    #[test]
    fn json_payloads_are_embedded_and_others_are_base64() {
        let letter = DeadLetter::parse(stored(
            "deadletter.ledger.events.ledger.created",
            &[("X-A", "1"), ("X-A", "2")],
            b"{\"n\": 7}",
        ));
        let value = serde_json::to_value(&letter).unwrap();
        assert_eq!(value["payload"], serde_json::json!({"n": 7}));
        assert_eq!(value["payload_base64"], serde_json::Value::Null);
        assert_eq!(
            value["headers"],
            serde_json::json!([["X-A", "1"], ["X-A", "2"]])
        );
        assert_eq!(value["stored"], "2023-11-14T22:13:20.25Z");
        assert_eq!(value["code"], serde_json::Value::Null);
        assert_eq!(value["service"], "ledger");
        let binary = DeadLetter::parse(stored("deadletter.a.b", &[], &[0x81, 0xa1, 0x6e, 0x07]));
        let value = serde_json::to_value(&binary).unwrap();
        assert_eq!(value["payload"], serde_json::Value::Null);
        assert_eq!(value["payload_base64"], "gaFuBw==");
        let text = DeadLetter::parse(stored("deadletter.a.b", &[], b"plain words"));
        let value = serde_json::to_value(&text).unwrap();
        assert_eq!(value["payload_base64"], "cGxhaW4gd29yZHM=");
    }
}
