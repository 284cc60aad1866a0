//! Reading, replaying and purging dead letters.

use std::sync::Arc;

use serde::Serialize;

use super::letter::DeadLetter;
use crate::backend::Backend;
use crate::domain::names::validate_service_name;
use crate::domain::subject::{DEAD_LETTER_STREAM, DEAD_LETTER_SUBJECTS, dead_letter_subject};
use crate::ports::{MSG_ID_HEADER, Message, Streams};
use crate::{Error, Result};

/// Which dead letters [`DeadLetters::list`] returns: all by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    service: Option<String>,
    from: u64,
    limit: Option<usize>,
}

impl Filter {
    /// Every dead letter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only those of `service`.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Only those at or after this dead-letter sequence.
    pub fn from_sequence(mut self, sequence: u64) -> Self {
        self.from = sequence;
        self
    }

    /// At most `limit` of them.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// Where a replayed dead letter went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Replayed {
    /// The subject it was published to (the original one).
    pub subject: String,
    /// The stream that stored it.
    pub stream: String,
    /// Its new sequence there.
    pub sequence: u64,
    /// `true` when this replay had already been stored (a retried replay).
    pub duplicate: bool,
}

/// The dead letters of every service: list, read, replay, purge.
///
/// ```
/// # async fn run() -> aegis::Result<()> {
/// use aegis::dead_letters::{DeadLetters, Filter};
///
/// let backend = aegis::Backend::in_memory();
/// let dead_letters = DeadLetters::new(&backend)?;
/// for letter in dead_letters.list(&Filter::new().service("ledger").limit(20)).await? {
///     println!("{} {} {:?}", letter.sequence(), letter.subject(), letter.reason());
///     // Once the handler is fixed: published again, then removed from the dead letters.
///     let replayed = dead_letters.replay(letter.sequence()).await?;
///     println!("now {} #{}", replayed.stream, replayed.sequence);
/// }
/// let purged = dead_letters.purge_all(Some("ledger")).await?;
/// # let _ = purged;
/// # Ok(()) }
/// # tokio::runtime::Runtime::new().unwrap().block_on(run()).unwrap();
/// ```
#[derive(Clone)]
pub struct DeadLetters {
    streams: Arc<dyn Streams>,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters").finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// The dead letters on `backend`'s streams (an error when it has none).
    pub fn new(backend: &Backend) -> Result<Self> {
        Ok(DeadLetters {
            streams: Arc::clone(backend.streams()?),
        })
    }

    /// The dead letters `filter` selects, oldest first. One read per dead letter: give a
    /// limit when there may be many.
    pub async fn list(&self, filter: &Filter) -> Result<Vec<DeadLetter>> {
        let subjects = subjects_of(filter.service.as_deref())?;
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut from = filter.from;
        let mut found = Vec::new();
        while found.len() < limit {
            let Some(stored) = self.next(from, &subjects).await? else {
                break;
            };
            from = stored.sequence() + 1;
            found.push(stored);
        }
        Ok(found)
    }

    /// The dead letter at `sequence`, if there is one.
    pub async fn get(&self, sequence: u64) -> Result<Option<DeadLetter>> {
        let next = self.next(sequence, DEAD_LETTER_SUBJECTS).await?;
        Ok(next.filter(|letter| letter.sequence() == sequence))
    }

    /// Publishes the dead letter at `sequence` again, to its original subject with its
    /// original payload and headers, waits for the stream to store it, then removes the dead
    /// letter. [`Error::NotFound`] when there is no such dead letter.
    ///
    /// The replay carries a new `Nats-Msg-Id`, `aegis-replay-{sequence}`: a replay retried
    /// after a failure (or run twice at once) is stored once, inside the target stream's
    /// duplicate window. An event goes to every subscription of its subject again, not only
    /// to the service that gave up on it; the event's own id is unchanged.
    pub async fn replay(&self, sequence: u64) -> Result<Replayed> {
        let letter = self.get(sequence).await?.ok_or_else(|| Error::NotFound {
            what: "dead letter",
            name: sequence.to_string(),
        })?;
        let mut message = Message::new(letter.subject(), letter.payload().clone());
        for (name, value) in letter.headers().iter() {
            // Checked when it was first published; the stream has moved on since.
            if !name.starts_with("Nats-Expected-") {
                message.headers.insert(name, value);
            }
        }
        message
            .headers
            .insert(MSG_ID_HEADER, format!("aegis-replay-{sequence}"));
        let ack = self.streams.publish(message).await?.await?;
        self.streams
            .delete_message(DEAD_LETTER_STREAM, sequence)
            .await?;
        Ok(Replayed {
            subject: letter.subject().to_owned(),
            stream: ack.stream,
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// Removes the dead letter at `sequence`; `false` when there was none.
    pub async fn purge(&self, sequence: u64) -> Result<bool> {
        if self.get(sequence).await?.is_none() {
            // Not a dead letter (another subject in the stream): left alone.
            return Ok(false);
        }
        self.streams
            .delete_message(DEAD_LETTER_STREAM, sequence)
            .await
    }

    /// Removes every dead letter, or those of `service`; returns how many.
    pub async fn purge_all(&self, service: Option<&str>) -> Result<u64> {
        let subjects = subjects_of(service)?;
        let mut purged = 0;
        let mut from = 0;
        while let Some(letter) = self.next(from, &subjects).await? {
            from = letter.sequence() + 1;
            if self
                .streams
                .delete_message(DEAD_LETTER_STREAM, letter.sequence())
                .await?
            {
                purged += 1;
            }
        }
        Ok(purged)
    }

    async fn next(&self, from: u64, subjects: &str) -> Result<Option<DeadLetter>> {
        let stored = self
            .streams
            .next_message(DEAD_LETTER_STREAM, from, subjects)
            .await?;
        Ok(stored.map(DeadLetter::parse))
    }
}

/// The dead-letter subjects of `service`, or of every service.
fn subjects_of(service: Option<&str>) -> Result<String> {
    match service {
        Some(service) => {
            validate_service_name(service)?;
            Ok(dead_letter_subject(service, ">"))
        }
        None => Ok(DEAD_LETTER_SUBJECTS.to_owned()),
    }
}
