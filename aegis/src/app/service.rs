use std::sync::Arc;

use crate::app::dispatch::{Call, EncodedReply};
use crate::ports::BoxFuture;

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

    #[doc(hidden)]
    fn __methods() -> Vec<MethodSpec>;

    #[doc(hidden)]
    fn __dispatch(this: &Arc<Self>, method: &str, call: Call) -> BoxFuture<'static, EncodedReply>;
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
