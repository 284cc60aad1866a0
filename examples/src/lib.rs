//! Runnable examples for aegis (see the `[[example]]` entries), and the service definitions
//! that several of them share.

pub mod echo;
pub mod orders;
pub mod reports;
pub mod shop;
