//! Compile-time tests for the aegis macros; see `tests/ui.rs`.
