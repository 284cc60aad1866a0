//! Runnable examples for aegis; see the `[[example]]` entries.
