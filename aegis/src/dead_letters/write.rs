//! Writing dead letters: what a subscriber or worker does when it gives up on a message.

use std::time::Duration;

use crate::domain::envelope::header_value;
use crate::domain::headers::dead_letter as headers;
use crate::domain::subject::{DEAD_LETTER_STREAM, DEAD_LETTER_SUBJECTS, dead_letter_subject};
use crate::handler::RpcError;
use crate::ports::{Delivery, Headers, MSG_ID_HEADER, Message, StreamConfig, Streams};

/// The `DEAD_LETTERS` stream: limits retention, 100,000 messages, 2-minute dedupe.
pub(crate) fn dead_letter_stream() -> StreamConfig {
    StreamConfig {
        name: DEAD_LETTER_STREAM.into(),
        subjects: vec![DEAD_LETTER_SUBJECTS.into()],
        retention: crate::ports::Retention::Limits,
        max_msgs: 100_000,
        duplicate_window: Duration::from_secs(120),
    }
}

/// Who gave up on a message: the service, and the stream and consumer it came through.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub(crate) service: &'a str,
    pub(crate) stream: &'a str,
    pub(crate) consumer: &'a str,
}

/// Publishes `delivery` to the dead letters of `origin.service` with `error`, then terminates it.
/// If the dead letter cannot be stored, the delivery is nak'ed instead: never lost.
pub(crate) async fn dead_letter(
    streams: &dyn Streams,
    origin: Origin<'_>,
    delivery: &Delivery,
    error: &RpcError,
    retry_in: Duration,
) {
    let Origin {
        service,
        stream,
        consumer,
    } = origin;
    let original = &delivery.message;
    let mut headers = Headers::new();
    for (name, value) in original.headers.iter() {
        if name == MSG_ID_HEADER {
            headers.insert(headers::MSG_ID, value);
        } else {
            headers.insert(name, value);
        }
    }
    let sequence = delivery.info.stream_sequence;
    headers.insert(headers::REASON, header_value(&error.to_string()));
    headers.insert(headers::CODE, error.code().to_string());
    headers.insert(headers::SUBJECT, original.subject.as_str());
    headers.insert(headers::STREAM, stream);
    headers.insert(headers::SEQUENCE, sequence.to_string());
    headers.insert(headers::CONSUMER, consumer);
    headers.insert(headers::DELIVERIES, delivery.info.delivered.to_string());
    // A retried dead-lettering (crash before the term) is stored once.
    headers.insert(MSG_ID_HEADER, format!("dl-{stream}-{sequence}-{consumer}"));
    let message = Message {
        subject: dead_letter_subject(service, &original.subject),
        reply: None,
        headers,
        payload: original.payload.clone(),
    };
    let stored = async { streams.publish(message).await?.await }.await;
    match stored {
        Ok(_) => {
            tracing::warn!(service, consumer, sequence, %error, "dead-lettered");
            if let Err(error) = delivery.term().await {
                tracing::warn!(consumer, sequence, %error, "could not terminate a dead-lettered message");
            }
        }
        Err(store_error) => {
            tracing::error!(consumer, sequence, %store_error, "could not dead-letter; retrying later");
            let _ = delivery.nak(retry_in).await;
        }
    }
}
