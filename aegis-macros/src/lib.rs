//! Procedural macros for [aegis](https://docs.rs/aegis). Use them through the `aegis` crate:
//! `#[aegis::service]`, `#[aegis::rpc]`, `#[aegis::subscribe]`, `#[aegis::command]`. The
//! documentation lives on the re-exports there.

mod ctxt;
mod expand;
mod krate;
mod model;
mod naming;
mod parse;
mod service;
mod symbol;
mod validate;

use proc_macro::TokenStream;

/// Turns an inherent `impl` block into an aegis service.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// use aegis::{CommandContext, Event, RpcError};
///
/// #[derive(Serialize, Deserialize)]
/// struct Hello { name: String }
/// #[derive(Serialize, Deserialize)]
/// struct Greeting { text: String }
/// #[derive(Serialize, Deserialize)]
/// struct UserCreated { name: String }
///
/// struct Greeter;
///
/// #[aegis::service(name = "greeter", version = "1.0.0")]
/// impl Greeter {
///     /// Greets by name.
///     #[rpc]
///     async fn hello(&self, req: Hello) -> Result<Greeting, RpcError> {
///         Ok(Greeting { text: format!("hello, {}", req.name) })
///     }
///
///     /// Welcomes every new user, on one instance of the service.
///     #[subscribe("users.created")]
///     async fn welcome(&self, event: Event<UserCreated>) -> Result<(), RpcError> {
///         let _ = &event.payload().name;
///         Ok(())
///     }
///
///     /// Rebuilds the greetings, reporting progress.
///     #[command]
///     async fn rebuild(&self, ctx: &CommandContext) -> Result<u32, RpcError> {
///         ctx.progress(100.0, "done").await;
///         Ok(42)
///     }
/// }
/// // Generated: `impl aegis::Service for Greeter` and `GreeterClient` with
/// // `async fn hello(&self, req: Hello) -> Result<Greeting, aegis::Error>` and
/// // `async fn rebuild(&self) -> Result<CommandHandle<u32>, aegis::Error>`.
/// ```
///
/// Arguments:
/// - `name = "..."` (required): the service name, `^[a-z][a-z0-9-]*[a-z0-9]$`;
/// - `version = "x.y.z"` (required);
/// - `crate = "path"`: where the `aegis` crate is, when renamed in `Cargo.toml`;
/// - `client = false`: generate the server side only, no `{Type}Client`. The server only
///   deserializes payloads and serializes replies, so payloads then need only
///   `Deserialize` and replies only `Serialize` (the client needs the other half of each).
///
/// Handler methods carry one of `#[rpc]`, `#[exclusive_rpc]`, `#[subscribe("pattern")]` or
/// `#[command]`; other methods are left alone. Handlers are `async fn` taking `&self`, are not
/// generic, and their futures must be `Send`. Every rule below is checked at compile time, on
/// your tokens.
/// - `#[rpc]`, `#[exclusive_rpc]`: optionally `&aegis::RequestContext`, and at most one
///   payload (`serde::de::DeserializeOwned` + `serde::Serialize`), returning `Result<T, E>`
///   with `T: Serialize + DeserializeOwned` and `E: aegis::IntoRpcError`, or a plain `T`
///   (the handler cannot fail). The client gets a method that calls it and returns
///   `aegis::Result<T>` either way.
/// - `#[subscribe("pattern")]`: exactly one argument, `aegis::Event<T>` with
///   `T: DeserializeOwned`, returning `Result<(), E>`, `()` or nothing. No client method:
///   publish events.
/// - `#[command]`: like `#[rpc]`, with `&aegis::CommandContext` instead of the request
///   context. The client gets a method that sends it and returns its
///   `aegis::commands::CommandHandle<T>`.
///
/// Fallible or plain is decided from how the return type is written: a path whose last
/// segment is `Result` (`Result<T, E>`, `aegis::Result<T>`, `anyhow::Result<T>`,
/// `std::result::Result<T, E>`, an alias of yours named `Result`) is fallible, and its `Err`
/// becomes an error reply; anything else is the reply itself. So a type of yours named
/// `Result` that is not an alias of `std::result::Result` cannot be returned as a plain value,
/// and an alias with another name (`type MyResult<T> = Result<T, MyError>`) is a plain value:
/// name it `Result`, or write `Result<T, MyError>`.
///
/// The service is also registered, at link time, in the binary's catalogue
/// (`aegis::catalog()`): its handlers with their kinds, subjects, payload and result type
/// names (as written) and the first paragraph of their doc comments, which running instances
/// publish in `$SRV.INFO` metadata too.
///
/// Rpc method names and command names are unique within a service (each on its own: an rpc
/// method and a command may share a name).
#[proc_macro_attribute]
pub fn service(args: TokenStream, input: TokenStream) -> TokenStream {
    service::expand(args.into(), input.into()).into()
}

/// Marks a method of a `#[service]` impl block as an RPC handler that only the elected
/// leader of the service's single-active group runs.
///
/// Same signature rules and arguments as `#[rpc]`. A service with any `#[exclusive_rpc]`
/// method joins the leader election of its group (`ServiceConfig::group_id`); only the leader
/// subscribes these methods, a standby that still receives one answers NOT_ACTIVE, and
/// generated clients retry NOT_ACTIVE. The handler can read its fencing token from
/// `RequestContext::fencing_token`.
#[proc_macro_attribute]
pub fn exclusive_rpc(args: TokenStream, input: TokenStream) -> TokenStream {
    service::outside_service(symbol::EXCLUSIVE_RPC, args.into(), input.into()).into()
}

/// Marks a method of a `#[service]` impl block as an RPC handler served by every instance.
///
/// `#[rpc]` uses the method's name on the wire; `#[rpc(name = "...")]` overrides it
/// (`^[a-z][a-z0-9_]*$`). The method returns `Result<T, E>` or a plain `T`, e.g.
/// `async fn ping(&self) -> String` (see `#[service]` for the signature rules). Only meaningful inside `#[service]`: anywhere else it is an error.
#[proc_macro_attribute]
pub fn rpc(args: TokenStream, input: TokenStream) -> TokenStream {
    service::outside_service(symbol::RPC, args.into(), input.into()).into()
}

/// Marks a method of a `#[service]` impl block as an event handler.
///
/// `#[subscribe("orders.*")]` or `#[subscribe("orders.*", mode = "broadcast")]`: the pattern
/// is the part after `events.` (`{domain}.{event_type}`, with `*` for one token and a final
/// `>` for the rest, or just `">"` for every event; aegis adds the `events.` prefix); `mode`
/// is `"compete"` (default: each event to one instance of the service) or `"broadcast"`
/// (each event to every instance). The method is
/// `async fn(&self, event: aegis::Event<T>) -> Result<(), E>` with `T: Deserialize` and
/// `E: aegis::IntoRpcError`, or returns nothing when it cannot fail (see `#[service]` for
/// how the return type is read). Its name names the subscription's durable consumer
/// (`{service}-{method}`); two handlers may subscribe to the same pattern. Only meaningful
/// inside `#[service]`: anywhere else it is an error.
#[proc_macro_attribute]
pub fn subscribe(args: TokenStream, input: TokenStream) -> TokenStream {
    service::outside_service(symbol::SUBSCRIBE, args.into(), input.into()).into()
}

/// Marks a method of a `#[service]` impl block as a command handler.
///
/// `#[command]` uses the method's name on the wire (`commands.{service}.{name}`);
/// `#[command(name = "...")]` overrides it (`^[a-z][a-z0-9_]*$`). The method is
/// `async fn(&self, ctx: &aegis::CommandContext, payload: P) -> Result<T, E>` (context and
/// payload optional, in any order) with `P: Deserialize`, `T: Serialize` and
/// `E: aegis::IntoRpcError`, or `-> T` when it cannot fail (see `#[service]` for how the
/// return type is read). The generated client's method sends the command and returns an
/// `aegis::commands::CommandHandle<T>` that follows its progress and outcome. Only
/// meaningful inside `#[service]`: anywhere else it is an error.
#[proc_macro_attribute]
pub fn command(args: TokenStream, input: TokenStream) -> TokenStream {
    service::outside_service(symbol::COMMAND, args.into(), input.into()).into()
}
