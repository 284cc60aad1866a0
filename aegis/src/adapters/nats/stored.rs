//! Reading and deleting single stored messages: the JetStream `STREAM.MSG.GET` and
//! `STREAM.MSG.DELETE` API, one request each.

use std::time::SystemTime;

use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::response::Response;
use async_nats::jetstream::stream::RawMessage;
use async_nats::jetstream::{self, ErrorCode};

use super::error;
use crate::Result;
use crate::ports::{Message, StoredMessage};

/// "sequence {seq} not found": `STREAM.MSG.DELETE` of a message that was deleted.
const SEQUENCE_NOT_FOUND: ErrorCode = ErrorCode(10043);
/// "delete failed": for a sequence past the last one the store says "stream store EOF"
/// (nats-server 2.15), or "no message found"; other causes (disk errors) stay errors.
const DELETE_FAILED: ErrorCode = ErrorCode(10057);

fn not_there(error: &jetstream::Error) -> bool {
    let code = error.error_code();
    [
        SEQUENCE_NOT_FOUND,
        ErrorCode::NO_MESSAGE_FOUND,
        ErrorCode::STREAM_NOT_FOUND,
    ]
    .contains(&code)
        || (code == DELETE_FAILED && {
            let text = error.to_string();
            text.starts_with("stream store EOF") || text.starts_with("no message found")
        })
}

#[derive(serde::Serialize)]
struct GetRequest<'a> {
    seq: u64,
    next_by_subj: &'a str,
}

#[derive(serde::Deserialize)]
struct Got {
    message: RawMessage,
}

#[derive(serde::Serialize)]
struct DeleteRequest {
    seq: u64,
    // Overwriting the bytes on disk is slow and not what a delete promises here.
    no_erase: bool,
}

#[derive(serde::Deserialize)]
struct Deleted {
    success: bool,
}

/// The first message of `stream` at or after `from` matching `filter`.
pub(super) async fn next_message(
    jetstream: &jetstream::Context,
    stream: &str,
    from: u64,
    filter: &str,
) -> Result<Option<StoredMessage>> {
    let context = || format!("reading stream `{stream}` from {from} (`{filter}`)");
    let request = GetRequest {
        seq: from.max(1),
        next_by_subj: filter,
    };
    let response: Response<Got> = jetstream
        .request(format!("STREAM.MSG.GET.{stream}"), &request)
        .await
        .map_err(|e| error::transport(&context(), e))?;
    let raw = match response {
        Response::Ok(got) => got.message,
        Response::Err { error }
            if error.error_code() == ErrorCode::NO_MESSAGE_FOUND
                || error.error_code() == ErrorCode::STREAM_NOT_FOUND =>
        {
            return Ok(None);
        }
        Response::Err { error } => return Err(error::jetstream_api(&context(), &error)),
    };
    let stored = StreamMessage::try_from(raw).map_err(|e| error::transport(&context(), e))?;
    Ok(Some(StoredMessage {
        sequence: stored.sequence,
        message: Message {
            subject: stored.subject.to_string(),
            reply: None,
            headers: super::bus::from_nats_headers(&stored.headers),
            payload: stored.payload,
        },
        published: SystemTime::from(stored.time),
    }))
}

/// Deletes the message at `sequence`; `false` when it (or the stream) is not there.
pub(super) async fn delete_message(
    jetstream: &jetstream::Context,
    stream: &str,
    sequence: u64,
) -> Result<bool> {
    let context = || format!("deleting message {sequence} of stream `{stream}`");
    let request = DeleteRequest {
        seq: sequence,
        no_erase: true,
    };
    let response: Response<Deleted> = jetstream
        .request(format!("STREAM.MSG.DELETE.{stream}"), &request)
        .await
        .map_err(|e| error::transport(&context(), e))?;
    match response {
        Response::Ok(deleted) => Ok(deleted.success),
        Response::Err { error } if not_there(&error) => Ok(false),
        Response::Err { error } => Err(error::jetstream_api(&context(), &error)),
    }
}
