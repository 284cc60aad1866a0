//! Application services: the service definition, request dispatch, the running host.

pub(crate) mod commander;
pub(crate) mod control;
pub(crate) mod discovery;
pub(crate) mod dispatch;
pub(crate) mod election;
pub(crate) mod health;
pub(crate) mod host;
pub(crate) mod lifecycle;
pub(crate) mod publisher;
pub(crate) mod registry;
pub(crate) mod selection;
pub(crate) mod service;
pub(crate) mod subscriber;
pub(crate) mod worker;
