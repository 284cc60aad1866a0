//! `aegis` renamed in Cargo.toml: see `tests/ui.rs`.
