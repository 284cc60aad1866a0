//! Middleware scenarios, run on every backend (`tests/middleware_memory.rs`,
//! `tests/middleware_nats.rs`): server layers around handlers, client headers and
//! interceptors on calls and commands.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aegis::middleware::{Layer, OutgoingCall, layer_fn};
use aegis::ports::BoxFuture;
use aegis::{
    Backend, CommandContext, Error, RequestContext, RetryPolicy, RpcError, ServiceBuilder,
    ServiceConfig, ServiceHandle,
};

/// The token the auth layer accepts.
pub const TOKEN: &str = "Bearer s3cret";

/// A vault: its methods say who called, or fail, or take long.
#[derive(Debug, Default)]
pub struct Vault;

#[aegis::service(name = "vault", version = "1.0.0")]
impl Vault {
    /// The `x-tenant` header the call carried.
    #[rpc]
    async fn whoami(&self, ctx: &RequestContext) -> Option<String> {
        ctx.headers().get("x-tenant").map(str::to_owned)
    }

    /// Always fails with 409.
    #[rpc]
    async fn conflict(&self) -> Result<(), RpcError> {
        Err(RpcError::new(409, "taken"))
    }

    /// The command's `authorization` and `x-tenant` headers.
    #[command]
    async fn seal(&self, ctx: &CommandContext) -> (Option<String>, Option<String>) {
        let header = |name| ctx.headers().get(name).map(str::to_owned);
        (header("authorization"), header("x-tenant"))
    }
}

/// Refuses calls without [`TOKEN`] with a 401.
pub fn auth() -> impl Layer {
    layer_fn(
        |request: &RequestContext| match request.headers().get("authorization") {
            Some(TOKEN) => Ok(()),
            Some(_) => Err(RpcError::forbidden("wrong token")),
            None => Err(RpcError::unauthorized("a bearer token is required")),
        },
    )
}

/// Records what each layer saw, in the order seen: `"{name} before {method}"` and
/// `"{name} after {method} {code}"` (`0` for success).
#[derive(Debug, Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    /// A layer named `name` writing here.
    pub fn layer(&self, name: &'static str) -> impl Layer {
        Recorder {
            name,
            journal: self.clone(),
        }
    }

    /// Everything recorded so far; clears it.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }
}

struct Recorder {
    name: &'static str,
    journal: Journal,
}

impl Layer for Recorder {
    fn before<'a>(&'a self, request: &'a RequestContext) -> BoxFuture<'a, Result<(), RpcError>> {
        Box::pin(async move {
            // Yields once: an asynchronous layer, not only a synchronous check.
            tokio::task::yield_now().await;
            self.journal
                .push(format!("{} before {}", self.name, request.method()));
            Ok(())
        })
    }

    fn after(&self, request: &RequestContext, outcome: Result<(), &RpcError>) {
        let code = outcome.map_or_else(RpcError::code, |()| 0);
        self.journal
            .push(format!("{} after {} {code}", self.name, request.method()));
    }
}

/// A layer whose `after` panics.
struct PanicsAfter;

impl Layer for PanicsAfter {
    fn after(&self, _: &RequestContext, _: Result<(), &RpcError>) {
        panic!("audit sink gone");
    }
}

/// A layer that takes `delay` before letting a call through.
struct Slow(Duration);

impl Layer for Slow {
    fn before<'a>(&'a self, _: &'a RequestContext) -> BoxFuture<'a, Result<(), RpcError>> {
        Box::pin(async move {
            tokio::time::sleep(self.0).await;
            Ok(())
        })
    }
}

async fn start(backend: &Backend, builder: ServiceBuilder<Vault>) -> ServiceHandle {
    let config = ServiceConfig::new().enable_registration(false);
    builder.config(config).start(backend).await.unwrap()
}

fn remote_code(outcome: Result<impl std::fmt::Debug, Error>) -> u16 {
    match outcome {
        Err(Error::Remote { code, .. }) => code,
        other => panic!("expected a remote error, got {other:?}"),
    }
}

/// A server layer refuses calls without a token (401) or with a wrong one (403); a client
/// carries it as a fixed header or through an interceptor, per client or per call.
pub async fn a_layer_refuses_calls_without_a_token_and_clients_add_it(backend: &Backend) {
    let service = start(backend, ServiceBuilder::new(Vault).layer(auth())).await;
    let client = VaultClient::new(backend);

    assert_eq!(remote_code(client.whoami().await), 401);
    let wrong = client.with_header("authorization", "Bearer guess");
    assert_eq!(remote_code(wrong.whoami().await), 403);

    let authorized = client.with_header("authorization", TOKEN);
    assert_eq!(authorized.whoami().await.unwrap(), None);
    // A per-call header on top of the client's own.
    let tenant = authorized.with_header("x-tenant", "acme").whoami().await;
    assert_eq!(tenant.unwrap().as_deref(), Some("acme"));

    let intercepted = client.with_interceptor(|call: &mut OutgoingCall<'_>| {
        assert_eq!((call.service(), call.method()), ("vault", "whoami"));
        call.headers_mut().insert("authorization", TOKEN);
        call.headers_mut().insert("x-tenant", "globex");
        Ok(())
    });
    assert_eq!(
        intercepted.whoami().await.unwrap().as_deref(),
        Some("globex")
    );
    // The original client was not changed by its copies.
    assert_eq!(remote_code(client.whoami().await), 401);
    service.stop().await.unwrap();
}

/// Layers run in the order added, before the handler; each `after` sees the code the caller
/// gets: success, the handler's error, or an earlier layer's refusal (the handler and the
/// later layers then do not run).
pub async fn layers_run_in_order_and_see_every_outcome(backend: &Backend) {
    let journal = Journal::default();
    let builder = ServiceBuilder::new(Vault)
        .layer(journal.layer("outer"))
        .layer(auth())
        .layer(journal.layer("inner"));
    let service = start(backend, builder).await;
    let client = VaultClient::new(backend).with_header("authorization", TOKEN);

    client.whoami().await.unwrap();
    assert_eq!(
        journal.take(),
        [
            "outer before whoami",
            "inner before whoami",
            "outer after whoami 0",
            "inner after whoami 0",
        ]
    );
    assert_eq!(remote_code(client.conflict().await), 409);
    assert_eq!(
        journal.take(),
        [
            "outer before conflict",
            "inner before conflict",
            "outer after conflict 409",
            "inner after conflict 409",
        ]
    );
    assert_eq!(remote_code(VaultClient::new(backend).whoami().await), 401);
    assert_eq!(
        journal.take(),
        [
            "outer before whoami",
            "outer after whoami 401",
            "inner after whoami 401",
        ]
    );
    service.stop().await.unwrap();
}

/// A layer runs inside the request's deadline: one slower than the caller's timeout is
/// cut off soon after it, as a slow handler would be, and the call ends by that timeout.
pub async fn a_slow_layer_is_bounded_by_the_deadline(backend: &Backend) {
    let journal = Journal::default();
    let builder = ServiceBuilder::new(Vault)
        .layer(journal.layer("outer"))
        .layer(Slow(Duration::from_secs(30)));
    let service = start(backend, builder).await;
    let client = VaultClient::new(backend).with_timeout(Duration::from_millis(300));
    let outcome = client.whoami().await;
    assert!(matches!(outcome, Err(Error::Timeout { .. })), "{outcome:?}");
    // The server gives up 100 ms after the caller: a 504 its layers see, not 30 s later.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = journal.0.lock().unwrap().clone();
        if seen.iter().any(|line| line.starts_with("outer after")) {
            assert_eq!(seen, ["outer before whoami", "outer after whoami 504"]);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow layer was not cut off: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    service.stop().await.unwrap();
}

/// A layer whose `after` panics costs nothing but a log line: the reply was already
/// encoded, and the service keeps serving.
pub async fn a_panicking_after_does_not_stop_the_service(backend: &Backend) {
    let service = start(backend, ServiceBuilder::new(Vault).layer(PanicsAfter)).await;
    let client = VaultClient::new(backend);
    for _ in 0..3 {
        assert_eq!(client.whoami().await.unwrap(), None);
    }
    service.stop().await.unwrap();
}

/// An interceptor that refuses stops the call before anything is sent: its error is the
/// call's. It runs on every attempt, so that retries can carry fresh credentials.
pub async fn interceptors_run_on_every_attempt_and_may_refuse(backend: &Backend) {
    let refusing = VaultClient::new(backend).with_interceptor(|_: &mut OutgoingCall<'_>| {
        Err(Error::Invalid {
            what: "credentials",
            message: "the token store is locked".into(),
        })
    });
    match refusing.whoami().await {
        Err(Error::Invalid { what, .. }) => assert_eq!(what, "credentials"),
        other => panic!("expected the interceptor's error, got {other:?}"),
    }

    // No instance yet: every attempt finds no responders, and each is intercepted.
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&attempts);
    let policy = RetryPolicy {
        max_attempts: 3,
        initial_delay_ms: 10,
        max_delay_ms: 20,
        ..RetryPolicy::default()
    };
    let retrying = VaultClient::new(backend)
        .with_retry(policy)
        .with_interceptor(move |_: &mut OutgoingCall<'_>| {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    let outcome = retrying.whoami().await;
    assert!(
        matches!(outcome, Err(Error::NoResponders { .. })),
        "{outcome:?}"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

/// Commands carry the client's headers too: the worker sees them in its context.
pub async fn commands_carry_the_clients_headers(backend: &Backend) {
    let service = start(backend, ServiceBuilder::new(Vault)).await;
    let client = VaultClient::new(backend)
        .with_header("authorization", TOKEN)
        .with_interceptor(|call: &mut OutgoingCall<'_>| {
            assert_eq!(call.method(), "seal");
            call.headers_mut().insert("x-tenant", "acme");
            Ok(())
        });
    let handle = client.seal().await.unwrap();
    let (authorization, tenant) = handle.result().await.unwrap();
    assert_eq!(authorization.as_deref(), Some(TOKEN));
    assert_eq!(tenant.as_deref(), Some("acme"));
    service.stop().await.unwrap();
}
