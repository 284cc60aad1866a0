//! Attribute and argument names, in one place.

pub(crate) const SERVICE: &str = "service";
pub(crate) const RPC: &str = "rpc";
pub(crate) const EXCLUSIVE_RPC: &str = "exclusive_rpc";
pub(crate) const SUBSCRIBE: &str = "subscribe";
pub(crate) const COMMAND: &str = "command";
pub(crate) const NAME: &str = "name";
pub(crate) const VERSION: &str = "version";
pub(crate) const CRATE: &str = "crate";
pub(crate) const CLIENT: &str = "client";
pub(crate) const DESCRIPTION: &str = "description";
pub(crate) const MODE: &str = "mode";
pub(crate) const COMPETE: &str = "compete";
pub(crate) const BROADCAST: &str = "broadcast";

/// The method attributes `#[service]` consumes.
pub(crate) const METHOD_ATTRIBUTES: &[&str] = &[RPC, EXCLUSIVE_RPC, SUBSCRIBE, COMMAND];

/// The generated client's own methods: `expand::client` names them from this list, and
/// handlers may not take these names.
pub(crate) const CLIENT_METHODS: [&str; 8] = [
    "new",
    "with_timeout",
    "with_discovery",
    "with_retry",
    "with_command_options",
    "with_codec",
    "with_header",
    "with_interceptor",
];

/// The generated client's field: not a handler name either.
pub(crate) const CLIENT_FIELD: &str = "core";
