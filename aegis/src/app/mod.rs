//! Application services: the service definition, request dispatch, the running host.

pub(crate) mod control;
pub(crate) mod dispatch;
pub(crate) mod host;
pub(crate) mod lifecycle;
pub(crate) mod service;
