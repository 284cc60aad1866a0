//! Behaviour tests for aegis live in `tests/`.
