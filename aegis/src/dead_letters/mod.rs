//! Where events and commands go when their handlers give up on them: the `DEAD_LETTERS`
//! stream, subject `deadletter.{service}.{original subject}`, the original payload, and
//! headers saying why. [`DeadLetters`] lists, replays and purges them.

mod letter;
mod redrive;
mod write;

pub use crate::domain::headers::dead_letter as headers;
pub use crate::domain::subject::{DEAD_LETTER_STREAM, dead_letter_subject};
pub use letter::DeadLetter;
pub use redrive::{DeadLetters, Filter, Replayed};
pub(crate) use write::{Origin, dead_letter, dead_letter_stream};
