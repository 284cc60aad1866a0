//! Server layers: code run around every RPC handler of a service (auth, tenancy, audit).

use std::fmt;
use std::sync::Arc;

use crate::handler::RpcError;
use crate::ports::BoxFuture;
use crate::rpc::context::RequestContext;

/// Code run around every `#[rpc]` and `#[exclusive_rpc]` handler of a service, added with
/// [`ServiceBuilder::layer`](crate::ServiceBuilder::layer); layers run in the order added.
///
/// [`before`](Layer::before) sees the request (method, headers, caller, deadline) and may
/// refuse it: the caller gets that error and the handler does not run.
/// [`after`](Layer::after) sees what the caller is answered. Both default to doing nothing.
/// For a synchronous check, [`layer_fn`] is shorter.
///
/// ```
/// use aegis::RequestContext;
/// use aegis::RpcError;
/// use aegis::middleware::Layer;
///
/// /// Logs every call that fails.
/// struct Audit;
///
/// impl Layer for Audit {
///     fn after(&self, request: &RequestContext, outcome: Result<(), &RpcError>) {
///         if let Err(error) = outcome {
///             eprintln!("{} failed: {error}", request.method());
///         }
///     }
/// }
/// ```
pub trait Layer: Send + Sync + 'static {
    /// Runs before the handler, inside the request's deadline; an `Err` is the reply.
    fn before<'a>(&'a self, request: &'a RequestContext) -> BoxFuture<'a, Result<(), RpcError>> {
        let _ = request;
        Box::pin(async { Ok(()) })
    }

    /// Runs once the reply is encoded: `Ok` for a result, else the error the caller gets
    /// (a refusal by a layer, a handler error, a timeout or a panic included). Not called
    /// for a request whose envelope could not be decoded: it has no context.
    fn after(&self, request: &RequestContext, outcome: Result<(), &RpcError>) {
        let _ = (request, outcome);
    }
}

/// A [`Layer`] that runs `check` before every handler; an `Err` refuses the call.
///
/// ```
/// use aegis::middleware::layer_fn;
/// use aegis::{RequestContext, RpcError};
///
/// let auth = layer_fn(|request: &RequestContext| {
///     match request.headers().get("authorization") {
///         Some("Bearer s3cret") => Ok(()),
///         _ => Err(RpcError::new(401, "a valid bearer token is required")),
///     }
/// });
/// # let _ = auth;
/// ```
pub fn layer_fn<F>(check: F) -> impl Layer
where
    F: Fn(&RequestContext) -> Result<(), RpcError> + Send + Sync + 'static,
{
    LayerFn(check)
}

struct LayerFn<F>(F);

impl<F> Layer for LayerFn<F>
where
    F: Fn(&RequestContext) -> Result<(), RpcError> + Send + Sync + 'static,
{
    fn before<'a>(&'a self, request: &'a RequestContext) -> BoxFuture<'a, Result<(), RpcError>> {
        let outcome = (self.0)(request);
        Box::pin(async move { outcome })
    }
}

/// A service's layers, in the order they run.
#[derive(Clone)]
pub(crate) struct Layers(Arc<[Arc<dyn Layer>]>);

impl Layers {
    /// `None` without layers: requests then pay nothing for them.
    pub(crate) fn new(layers: Vec<Arc<dyn Layer>>) -> Option<Self> {
        (!layers.is_empty()).then(|| Layers(layers.into()))
    }

    /// Each layer's `before`, in order; the first refusal ends it.
    pub(crate) async fn before(&self, request: &RequestContext) -> Result<(), RpcError> {
        for layer in self.0.iter() {
            layer.before(request).await?;
        }
        Ok(())
    }

    /// Each layer's `after`, in order.
    pub(crate) fn after(&self, request: &RequestContext, outcome: Result<(), &RpcError>) {
        for layer in self.0.iter() {
            layer.after(request, outcome);
        }
    }
}

impl fmt::Debug for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} layer(s)", self.0.len())
    }
}
