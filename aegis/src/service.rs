//! A service definition, as `#[service]` implements it, and its lifecycle states.

use std::fmt;
use std::sync::Arc;

use crate::commands::call::{CommandCall, CommandOutcome, CommandSpec};
use crate::events::SubscriptionMode;
use crate::events::call::{EventCall, EventOutcome, SubscriptionSpec};
use crate::ports::BoxFuture;
use crate::rpc::call::{Call, EncodedReply};

/// A service definition. `#[aegis::service]` implements it; do not implement it by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an aegis service",
    note = "annotate the inherent `impl` block of `{Self}` with `#[aegis::service(name = \"...\", version = \"x.y.z\")]`"
)]
pub trait Service: Send + Sync + 'static {
    /// Service name (`rpc.{NAME}.{method}`).
    const NAME: &'static str;
    /// Service version, `x.y.z`.
    const VERSION: &'static str;
    /// What the service does, for `$SRV.INFO`: `#[service(description = "...")]`, else the
    /// first paragraph of the `impl` block's doc comment.
    const DESCRIPTION: &'static str = "";

    /// What the service declares, for the catalogue (`aegis::catalog`) and `$SRV.INFO`.
    #[doc(hidden)]
    const __CATALOG: &'static ServiceDecl = &ServiceDecl {
        name: Self::NAME,
        version: Self::VERSION,
        description: Self::DESCRIPTION,
        methods: &[],
        subscriptions: &[],
        commands: &[],
    };

    #[doc(hidden)]
    fn __methods() -> Vec<MethodSpec>;

    #[doc(hidden)]
    fn __dispatch(this: &Arc<Self>, method: &str, call: Call) -> BoxFuture<'static, EncodedReply>;

    #[doc(hidden)]
    fn __subscriptions() -> Vec<SubscriptionSpec> {
        Vec::new()
    }

    #[doc(hidden)]
    fn __on_event(
        this: &Arc<Self>,
        handler: &str,
        call: EventCall,
    ) -> BoxFuture<'static, EventOutcome> {
        let _ = (this, handler);
        Box::pin(async move { call.unknown() })
    }

    #[doc(hidden)]
    fn __commands() -> Vec<CommandSpec> {
        Vec::new()
    }

    #[doc(hidden)]
    fn __on_command(
        this: &Arc<Self>,
        command: &str,
        call: CommandCall,
    ) -> BoxFuture<'static, CommandOutcome> {
        let _ = this;
        let outcome = call.unknown(command);
        Box::pin(async move { outcome })
    }
}

/// What kind of handler a method is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MethodKind {
    /// `#[rpc]`: served by every instance through the queue group.
    Rpc,
    /// `#[exclusive_rpc]`: served by the elected leader of the group only.
    Exclusive,
}

impl MethodKind {
    /// The attribute that declares it: `rpc` or `exclusive_rpc`.
    pub fn attribute(self) -> &'static str {
        match self {
            MethodKind::Rpc => "rpc",
            MethodKind::Exclusive => "exclusive_rpc",
        }
    }
}

/// One handler of a service, as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodSpec {
    /// Method name on the wire.
    pub name: &'static str,
    /// Handler kind.
    pub kind: MethodKind,
}

impl MethodSpec {
    /// An `#[exclusive_rpc]` method.
    pub const fn exclusive(name: &'static str) -> Self {
        MethodSpec {
            name,
            kind: MethodKind::Exclusive,
        }
    }

    /// An `#[rpc]` method.
    pub const fn rpc(name: &'static str) -> Self {
        MethodSpec {
            name,
            kind: MethodKind::Rpc,
        }
    }
}

/// What `#[service]` declares about a service, as static data that the macro writes (and
/// `inventory` collects): the source of `aegis::catalog`'s descriptors. Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct ServiceDecl {
    pub name: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub methods: &'static [MethodDecl],
    pub subscriptions: &'static [SubscriptionDecl],
    pub commands: &'static [CommandDecl],
}

/// An `#[rpc]` or `#[exclusive_rpc]` method, as declared. Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct MethodDecl {
    pub name: &'static str,
    pub kind: MethodKind,
    pub request: Option<TypeDecl>,
    pub response: TypeDecl,
    pub doc: &'static str,
}

/// A `#[subscribe]` handler, as declared. Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct SubscriptionDecl {
    pub handler: &'static str,
    pub pattern: &'static str,
    pub mode: SubscriptionMode,
    pub payload: TypeDecl,
    pub doc: &'static str,
}

/// A `#[command]` handler, as declared. Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct CommandDecl {
    pub name: &'static str,
    pub payload: Option<TypeDecl>,
    pub result: TypeDecl,
    pub doc: &'static str,
}

/// A payload or result type: its name as written, and its JSON Schema when the `schemars`
/// feature is on and the type implements `JsonSchema` (a fn: schemas are built at run time).
/// Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct TypeDecl {
    pub name: &'static str,
    pub schema: fn() -> Option<serde_json::Value>,
}

/// Where a service is in its life (the Python AegisSDK's lifecycle state machine).
///
/// `INITIALIZING → STARTING → STARTED → STOPPING → STOPPED`, with `FAILED` from `STARTING`
/// (start error) or `STOPPING` (stop error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleState {
    /// Built, not started.
    Initializing,
    /// Running `on_start` hooks and subscribing.
    Starting,
    /// Serving.
    Started,
    /// Intake stopped; draining in-flight handlers, running `on_stop` hooks.
    Stopping,
    /// Stopped cleanly.
    Stopped,
    /// Start or stop failed.
    Failed,
}

impl LifecycleState {
    /// `true` while the service serves requests.
    pub fn is_operational(self) -> bool {
        self == LifecycleState::Started
    }

    /// `true` once the service will never serve again.
    pub fn is_terminal(self) -> bool {
        matches!(self, LifecycleState::Stopped | LifecycleState::Failed)
    }
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LifecycleState::Initializing => "INITIALIZING",
            LifecycleState::Starting => "STARTING",
            LifecycleState::Started => "STARTED",
            LifecycleState::Stopping => "STOPPING",
            LifecycleState::Stopped => "STOPPED",
            LifecycleState::Failed => "FAILED",
        })
    }
}
