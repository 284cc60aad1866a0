//! The composition root: a service instance's settings, its start, its handle.

mod builder;
mod config;
mod handle;
mod shutdown;

pub use builder::ServiceBuilder;
pub use config::ServiceConfig;
pub use handle::ServiceHandle;
pub use shutdown::{Shutdown, shutdown_requested};
