//! Client interceptors: code run on every call a generated client sends (credentials,
//! tenancy, correlation headers).

use std::fmt;
use std::sync::Arc;

use crate::Result;
use crate::ports::Headers;

/// Code run on every request a generated client sends, added with its `with_interceptor`:
/// it may add headers, or refuse to send (its error is the call's). Runs on each attempt,
/// so a retry carries a fresh credential; interceptors run in the order added, after the
/// client's fixed headers (`with_header`) are set.
///
/// Any `Fn(&mut OutgoingCall<'_>) -> aegis::Result<()>` is an interceptor:
///
/// ```
/// use aegis::middleware::OutgoingCall;
///
/// let token = |call: &mut OutgoingCall<'_>| {
///     call.headers_mut().insert("authorization", "Bearer s3cret");
///     Ok(())
/// };
/// # fn is_interceptor(_: impl aegis::middleware::Interceptor) {}
/// # is_interceptor(token);
/// ```
pub trait Interceptor: Send + Sync + 'static {
    /// Called with the request about to be sent.
    fn intercept(&self, call: &mut OutgoingCall<'_>) -> Result<()>;
}

impl<F> Interceptor for F
where
    F: Fn(&mut OutgoingCall<'_>) -> Result<()> + Send + Sync + 'static,
{
    fn intercept(&self, call: &mut OutgoingCall<'_>) -> Result<()> {
        self(call)
    }
}

/// A request about to be sent, as an [`Interceptor`] sees it.
#[derive(Debug)]
pub struct OutgoingCall<'a> {
    pub(crate) service: &'static str,
    pub(crate) method: &'a str,
    pub(crate) headers: &'a mut Headers,
}

impl OutgoingCall<'_> {
    /// The service called.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The method (or command) called.
    pub fn method(&self) -> &str {
        self.method
    }

    /// The headers the request will carry.
    pub fn headers(&self) -> &Headers {
        self.headers
    }

    /// The headers the request will carry, to add to.
    pub fn headers_mut(&mut self) -> &mut Headers {
        self.headers
    }
}

/// What a client adds to every request: fixed headers, then its interceptors.
#[derive(Clone, Default)]
pub(crate) struct Outgoing {
    headers: Headers,
    interceptors: Vec<Arc<dyn Interceptor>>,
}

impl Outgoing {
    pub(crate) fn add_header(&mut self, name: String, value: String) {
        self.headers.insert(name, value);
    }

    pub(crate) fn add_interceptor(&mut self, interceptor: Arc<dyn Interceptor>) {
        self.interceptors.push(interceptor);
    }

    /// The headers of one request to `service.method`.
    pub(crate) fn headers(&self, service: &'static str, method: &str) -> Result<Headers> {
        let mut headers = self.headers.clone();
        let mut call = OutgoingCall {
            service,
            method,
            headers: &mut headers,
        };
        for interceptor in &self.interceptors {
            interceptor.intercept(&mut call)?;
        }
        Ok(headers)
    }
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            // Names only: values may be credentials.
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("interceptors", &self.interceptors.len())
            .finish()
    }
}
