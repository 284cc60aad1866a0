//! Commands: work for a service, run once by one of its instances, with progress and a result.
//!
//! A command is the AegisSDK `Command` envelope on `commands.{service}.{command}`, stored in
//! the `COMMANDS` work-queue stream until an instance has run it. Progress and the outcome
//! go straight to the caller (core NATS, on the subject named by the `Aegis-Reply-To`
//! header), never into the stream. A command without that header (the Python AegisSDK's)
//! gets them on `commands.progress.{id}` and `commands.callback.{id}`, where the SDK
//! listens, and a sender hears a Python worker there too; what `COMMANDS` captures of
//! those is purged after the outcome (`docs/wire-protocol.md`, Commands).

pub(crate) mod call;
pub(crate) mod context;
pub(crate) mod sender;
pub(crate) mod worker;

pub use crate::domain::envelope::Priority;
pub use crate::domain::headers::REPLY_TO_HEADER;
pub use context::CommandContext;
pub use sender::{CommandHandle, CommandOptions, CommandUpdate, Progress, cancel};
pub use worker::CommandConfig;
