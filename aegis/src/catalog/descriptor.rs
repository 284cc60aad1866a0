//! Service descriptors: what a `#[service]` declares, with its subjects, built from the static
//! data the macro writes; and the link-time list of every service in the binary.

use serde::{Serialize, Serializer};

use crate::domain::subject::{command_subject, event_pattern_subject, rpc_subject};
use crate::events::SubscriptionMode;
use crate::service::{
    CommandDecl, MethodDecl, MethodKind, Service, ServiceDecl, SubscriptionDecl, TypeDecl,
};

/// One service: its identity and every handler, as `#[service]` declared them.
///
/// Names, type names and docs are borrowed from the binary's static data; subjects are
/// computed (the NATS subjects the handlers are reached on).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ServiceDescriptor {
    /// `#[service(name = "...")]`.
    pub name: &'static str,
    /// `#[service(version = "...")]`.
    pub version: &'static str,
    /// `#[service(description = "...")]`, else the first paragraph of the `impl` block's doc
    /// comment; empty when neither.
    pub description: &'static str,
    /// `#[rpc]` and `#[exclusive_rpc]` methods, in declaration order.
    pub methods: Vec<MethodDescriptor>,
    /// `#[subscribe]` handlers, in declaration order.
    pub events: Vec<SubscriptionDescriptor>,
    /// `#[command]` handlers, in declaration order.
    pub commands: Vec<CommandDescriptor>,
}

/// An `#[rpc]` or `#[exclusive_rpc]` method.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MethodDescriptor {
    /// The method name on the wire.
    pub name: &'static str,
    /// `"rpc"` or `"exclusive_rpc"` in JSON.
    #[serde(serialize_with = "method_kind")]
    pub kind: MethodKind,
    /// `rpc.{service}.{method}`.
    pub subject: String,
    /// The payload argument; `None` when the method takes none.
    pub request: Option<TypeDescriptor>,
    /// What the method answers: `T` of a `Result<T, E>` return type, else the return type
    /// (`()` when there is none).
    pub response: TypeDescriptor,
    /// The first paragraph of the method's doc comment, lines joined by spaces; empty when
    /// it has none.
    pub doc: &'static str,
}

/// A `#[subscribe]` handler.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SubscriptionDescriptor {
    /// The handler's name (its method name), which names its durable consumer.
    pub handler: &'static str,
    /// The pattern as written in `#[subscribe("...")]`, after `events.`.
    pub pattern: &'static str,
    /// The subject filter: `events.{pattern}`, with the pattern's wildcards.
    pub subject: String,
    /// `"compete"` or `"broadcast"` in JSON.
    #[serde(serialize_with = "subscription_mode")]
    pub mode: SubscriptionMode,
    /// `T` of the handler's `Event<T>` argument (the argument's type, when it is not
    /// written `Event<T>`).
    pub payload: TypeDescriptor,
    /// The first paragraph of the method's doc comment.
    pub doc: &'static str,
}

/// A `#[command]` handler.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CommandDescriptor {
    /// The command name on the wire.
    pub name: &'static str,
    /// `commands.{service}.{command}`.
    pub subject: String,
    /// The payload argument; `None` when the command takes none.
    pub payload: Option<TypeDescriptor>,
    /// `T` of a `Result<T, E>` return type, else the return type (`()` when there is none).
    pub result: TypeDescriptor,
    /// The first paragraph of the method's doc comment.
    pub doc: &'static str,
}

/// A payload or result type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TypeDescriptor {
    /// The type as written in the handler's signature, whitespace normalised (`Vec<Order>`,
    /// `crate::orders::Order`): not a resolved path, and aliases are not expanded.
    pub name: &'static str,
    /// Its JSON Schema (draft 7), with the `schemars` feature and a type that implements
    /// `schemars::JsonSchema`: what the service accepts for payloads, what it sends for
    /// results. Else `None`, left out of the JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
}

impl ServiceDescriptor {
    /// The descriptor of `S`.
    pub fn of<S: Service>() -> Self {
        Self::from_decl(S::__CATALOG)
    }

    fn from_decl(decl: &'static ServiceDecl) -> Self {
        ServiceDescriptor {
            name: decl.name,
            version: decl.version,
            description: decl.description,
            methods: decl
                .methods
                .iter()
                .map(|m| MethodDescriptor::new(decl.name, m))
                .collect(),
            events: decl
                .subscriptions
                .iter()
                .map(SubscriptionDescriptor::new)
                .collect(),
            commands: decl
                .commands
                .iter()
                .map(|c| CommandDescriptor::new(decl.name, c))
                .collect(),
        }
    }
}

impl MethodDescriptor {
    fn new(service: &str, decl: &'static MethodDecl) -> Self {
        MethodDescriptor {
            name: decl.name,
            kind: decl.kind,
            subject: rpc_subject(service, decl.name),
            request: decl.request.as_ref().map(TypeDescriptor::new),
            response: TypeDescriptor::new(&decl.response),
            doc: decl.doc,
        }
    }
}

impl SubscriptionDescriptor {
    fn new(decl: &'static SubscriptionDecl) -> Self {
        SubscriptionDescriptor {
            handler: decl.handler,
            pattern: decl.pattern,
            subject: event_pattern_subject(decl.pattern),
            mode: decl.mode,
            payload: TypeDescriptor::new(&decl.payload),
            doc: decl.doc,
        }
    }
}

impl CommandDescriptor {
    fn new(service: &str, decl: &'static CommandDecl) -> Self {
        CommandDescriptor {
            name: decl.name,
            subject: command_subject(service, decl.name),
            payload: decl.payload.as_ref().map(TypeDescriptor::new),
            result: TypeDescriptor::new(&decl.result),
            doc: decl.doc,
        }
    }
}

impl TypeDescriptor {
    fn new(decl: &'static TypeDecl) -> Self {
        TypeDescriptor {
            name: decl.name,
            schema: (decl.schema)(),
        }
    }
}

fn method_kind<S: Serializer>(kind: &MethodKind, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(kind.attribute())
}

fn subscription_mode<S: Serializer>(
    mode: &SubscriptionMode,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(mode)
}

/// A service linked into the binary: what `#[service]` submits to the link-time registry.
/// Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct Registered(&'static ServiceDecl);

impl Registered {
    /// The registration of a service's declaration.
    pub const fn new(decl: &'static ServiceDecl) -> Self {
        Registered(decl)
    }
}

inventory::collect!(Registered);

/// Every `#[service]` linked into this binary, sorted by name (then version), each once;
/// also `aegis::catalog()`.
///
/// `#[service]` registers its service at link time (with the `inventory` crate), so a
/// service is listed when the crate that defines it is linked, whether or not it runs. The
/// registry is filled before `main` on the platforms `inventory` supports (Linux, macOS,
/// Windows, the BSDs; on WebAssembly only once the module's constructors have run).
///
/// ```
/// use aegis::RpcError;
///
/// struct Weather;
///
/// #[aegis::service(name = "weather", version = "1.0.0")]
/// impl Weather {
///     /// Tomorrow's weather in a city.
///     #[rpc]
///     async fn forecast(&self, city: String) -> Result<String, RpcError> {
///         Ok(format!("sunny in {city}"))
///     }
/// }
///
/// let catalog = aegis::catalog();
/// let weather = catalog.iter().find(|s| s.name == "weather").expect("linked");
/// let forecast = &weather.methods[0];
/// assert_eq!(forecast.subject, "rpc.weather.forecast");
/// assert_eq!(forecast.request.as_ref().map(|t| t.name), Some("String"));
/// assert_eq!(forecast.response.name, "String");
/// assert_eq!(forecast.doc, "Tomorrow's weather in a city.");
/// println!("{}", serde_json::to_string_pretty(&catalog).expect("serializes"));
/// ```
pub fn services() -> Vec<ServiceDescriptor> {
    let mut services: Vec<ServiceDescriptor> = Vec::new();
    for registered in inventory::iter::<Registered> {
        let descriptor = ServiceDescriptor::from_decl(registered.0);
        // Equal descriptors (one declaration submitted twice) are listed once.
        if !services.contains(&descriptor) {
            services.push(descriptor);
        }
    }
    services.sort_by(|a, b| (a.name, a.version).cmp(&(b.name, b.version)));
    services
}
