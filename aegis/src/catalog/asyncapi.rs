//! The catalogue as an AsyncAPI 3.0.0 document.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::catalog::descriptor::{ServiceDescriptor, TypeDescriptor, services};
use crate::domain::subject::command_reply_subject;

/// An AsyncAPI 3.0.0 document of every service in the binary ([`services`]), titled after
/// the executable's file name; see [`asyncapi_of`] for what it holds.
pub fn asyncapi() -> Value {
    let title = std::env::current_exe()
        .ok()
        .and_then(|path| path.file_stem()?.to_str().map(str::to_owned))
        .unwrap_or_else(|| "aegis services".to_owned());
    asyncapi_of(&services(), &title)
}

/// An AsyncAPI 3.0.0 document of `services`, with `info.title` = `title`.
///
/// - `info.version`: the services' version when they share one, else `name@version` of each;
///   `info.tags`: one per service, with its description.
/// - `channels`, keyed `{kind}__{service}__{handler}`, `address` the NATS subject:
///   `rpc.{service}.{method}` for each rpc method (and its reply channel, the caller's inbox,
///   address `null`), `events.{pattern}` for each `#[subscribe]` handler (the subject filter
///   as NATS writes it, wildcards `*` and `>` included), `commands.{service}.{command}` for
///   each command (and its result channel, `_INBOX.aegis.{command_id}`).
/// - `operations`, one per handler, `action: receive` (the service receives); rpc methods
///   and commands with a `reply`. Tagged with the service's name; `x-aegis-kind` says
///   `rpc`, `exclusive_rpc`, `subscribe` or `command`, `x-aegis-mode` a subscription's mode.
/// - Messages: `title` the type name; `payload` a `$ref` into `components.schemas` when the
///   schema is known (feature `schemars`), with the definitions it refers to beside it.
///   Payloads are what the envelopes of `docs/wire-protocol.md` carry (`params`, `result`,
///   the event's `payload`), in MessagePack or JSON.
pub fn asyncapi_of(services: &[ServiceDescriptor], title: &str) -> Value {
    let mut document = Document::default();
    for service in services {
        document.service(service);
    }
    let mut versions: Vec<&str> = services.iter().map(|s| s.version).collect();
    versions.sort_unstable();
    versions.dedup();
    let version = match versions.as_slice() {
        [] => "0.0.0".to_owned(),
        [one] => (*one).to_owned(),
        _ => services
            .iter()
            .map(|s| format!("{}@{}", s.name, s.version))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let tags: Vec<Value> = services
        .iter()
        .map(|s| tag(s.name, s.description))
        .collect();
    let mut root = json!({
        "asyncapi": "3.0.0",
        "info": { "title": title, "version": version, "tags": tags },
        "channels": document.channels,
        "operations": document.operations,
    });
    if !document.components.schemas.is_empty() {
        root["components"] = json!({ "schemas": document.components.schemas });
    }
    root
}

#[derive(Default)]
struct Document {
    channels: Map<String, Value>,
    operations: Map<String, Value>,
    components: Components,
}

impl Document {
    fn service(&mut self, service: &ServiceDescriptor) {
        let name = service.name;
        for method in &service.methods {
            let id = format!("rpc__{name}__{}", method.name);
            let reply = format!("rpc_reply__{name}__{}", method.name);
            let request = self.message("request", method.request.as_ref());
            let response = self.message("response", Some(&method.response));
            self.channel(&id, json!(method.subject), "request", request);
            self.channel(&reply, Value::Null, "response", response);
            let mut operation = self.operation(name, &id, "request", method.doc);
            operation["reply"] = reply_of(&reply, "response");
            operation["x-aegis-kind"] = json!(method.kind.attribute());
            self.operations.insert(id, operation);
        }
        for event in &service.events {
            let id = format!("event__{name}__{}", event.handler);
            let message = self.message("event", Some(&event.payload));
            self.channel(&id, json!(event.subject), "event", message);
            let mut operation = self.operation(name, &id, "event", event.doc);
            operation["x-aegis-kind"] = json!("subscribe");
            operation["x-aegis-mode"] = json!(event.mode.to_string());
            self.operations.insert(id, operation);
        }
        for command in &service.commands {
            let id = format!("command__{name}__{}", command.name);
            let result = format!("command_result__{name}__{}", command.name);
            let message = self.message("command", command.payload.as_ref());
            let outcome = self.message("result", Some(&command.result));
            self.channel(&id, json!(command.subject), "command", message);
            self.channel(
                &result,
                json!(command_reply_subject("{command_id}")),
                "result",
                outcome,
            );
            self.channels[&result]["parameters"] = json!({
                "command_id": { "description": "The command's id, chosen by the sender." }
            });
            let mut operation = self.operation(name, &id, "command", command.doc);
            operation["reply"] = reply_of(&result, "result");
            operation["x-aegis-kind"] = json!("command");
            self.operations.insert(id, operation);
        }
    }

    fn channel(&mut self, id: &str, address: Value, key: &str, message: Value) {
        let mut messages = Map::new();
        messages.insert(key.to_owned(), message);
        self.channels.insert(
            id.to_owned(),
            json!({ "address": address, "messages": messages }),
        );
    }

    fn operation(&self, service: &str, channel: &str, message: &str, doc: &str) -> Value {
        let mut operation = json!({
            "action": "receive",
            "channel": { "$ref": format!("#/channels/{channel}") },
            "messages": [{ "$ref": format!("#/channels/{channel}/messages/{message}") }],
            "tags": [{ "name": service }],
        });
        if !doc.is_empty() {
            operation["summary"] = json!(doc);
        }
        operation
    }

    /// A message of `ty`, or of no payload (any params accepted and ignored).
    fn message(&mut self, name: &str, ty: Option<&TypeDescriptor>) -> Value {
        let Some(ty) = ty else {
            return json!({ "name": name, "summary": "No payload." });
        };
        let mut message = json!({ "name": name, "title": ty.name });
        if let Some(schema) = &ty.schema {
            message["payload"] = self.components.payload(schema);
        }
        message
    }
}

fn reply_of(channel: &str, message: &str) -> Value {
    json!({
        "channel": { "$ref": format!("#/channels/{channel}") },
        "messages": [{ "$ref": format!("#/channels/{channel}/messages/{message}") }],
    })
}

fn tag(name: &str, description: &str) -> Value {
    if description.is_empty() {
        json!({ "name": name })
    } else {
        json!({ "name": name, "description": description })
    }
}

/// `components.schemas`: every payload schema, under its title, and the definitions the
/// schemas refer to, their `$ref`s rewritten to point there.
#[derive(Default)]
struct Components {
    schemas: Map<String, Value>,
}

/// A schema to place in `components.schemas`: the `$ref` it is known by in its root schema,
/// the key it would like, the schema.
struct Entry {
    reference: String,
    key: String,
    schema: Value,
}

impl Components {
    /// A root schema (draft 7, as the catalogue has it) as a message payload: a `$ref` to it
    /// in `components.schemas`, under its title, when it is a struct or an enum; else
    /// (`u32`, `Vec<T>`, `()`) inline. Its definitions go to `components.schemas`.
    fn payload(&mut self, schema: &Value) -> Value {
        let Value::Object(root) = schema else {
            return schema.clone();
        };
        let mut root = root.clone();
        root.remove("$schema");
        let mut entries: Vec<Entry> = match root.remove("definitions") {
            Some(Value::Object(definitions)) => definitions
                .into_iter()
                .map(|(name, schema)| Entry {
                    reference: format!("#/definitions/{}", pointer_escape(&name)),
                    key: component_key(&name),
                    schema,
                })
                .collect(),
            _ => Vec::new(),
        };
        let named = ["properties", "oneOf", "anyOf", "allOf", "enum"]
            .iter()
            .any(|keyword| root.contains_key(*keyword));
        let title = root.get("title").and_then(Value::as_str).map(component_key);
        let Some(title) = title.filter(|_| named) else {
            let keys = self.insert(entries);
            return rewrite(Value::Object(root), &keys);
        };
        entries.push(Entry {
            reference: "#".to_owned(),
            key: title,
            schema: Value::Object(root),
        });
        let keys = self.insert(entries);
        json!({ "$ref": keys["#"] })
    }

    /// Inserts `entries` under their keys, or fresh ones where the key holds another schema;
    /// returns each entry's old `$ref` and its new one.
    fn insert(&mut self, mut entries: Vec<Entry>) -> HashMap<String, String> {
        loop {
            let references: HashMap<String, String> = entries
                .iter()
                .map(|e| {
                    let new = format!("#/components/schemas/{}", e.key);
                    (e.reference.clone(), new)
                })
                .collect();
            let rewritten: Vec<Value> = entries
                .iter()
                .map(|e| rewrite(e.schema.clone(), &references))
                .collect();
            let mut clashed = false;
            for i in 0..entries.len() {
                let taken = self
                    .schemas
                    .get(&entries[i].key)
                    .is_some_and(|existing| *existing != rewritten[i]);
                let twice = entries[..i].iter().any(|e| e.key == entries[i].key);
                if taken || twice {
                    entries[i].key = self.fresh_key(&entries[i].key, &entries);
                    clashed = true;
                }
            }
            // A renamed entry changes the schemas that refer to it: check again.
            if !clashed {
                for (entry, schema) in entries.iter().zip(rewritten) {
                    self.schemas.insert(entry.key.clone(), schema);
                }
                return references;
            }
        }
    }

    fn fresh_key(&self, key: &str, entries: &[Entry]) -> String {
        (2..)
            .map(|n| format!("{key}{n}"))
            .find(|k| !self.schemas.contains_key(k) && entries.iter().all(|e| e.key != *k))
            .unwrap_or_else(|| key.to_owned())
    }
}

/// `schema` with each `$ref` found in `references` replaced.
fn rewrite(schema: Value, references: &HashMap<String, String>) -> Value {
    match schema {
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(key, value)| {
                    let value = match (&*key, &value) {
                        ("$ref", Value::String(old)) => references
                            .get(old)
                            .map_or(value, |new| Value::String(new.clone())),
                        _ => rewrite(value, references),
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| rewrite(item, references))
                .collect(),
        ),
        other => other,
    }
}

/// A name as an AsyncAPI component key (`^[a-zA-Z0-9.\-_]+$`).
fn component_key(name: &str) -> String {
    let key: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if key.is_empty() { "_".to_owned() } else { key }
}

/// A JSON pointer token (RFC 6901).
fn pointer_escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_move_to_components_and_clashing_names_get_fresh_keys() {
        let mut components = Components::default();
        let first = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Order",
            "type": "object",
            "properties": { "line": { "$ref": "#/definitions/Line" } },
            "definitions": { "Line": { "type": "string" } }
        });
        let second = json!({
            "title": "Basket",
            "type": "object",
            "properties": { "line": { "$ref": "#/definitions/Line" } },
            "definitions": { "Line": { "type": "integer" } }
        });
        assert_eq!(
            components.payload(&first),
            json!({ "$ref": "#/components/schemas/Order" })
        );
        assert_eq!(
            components.payload(&second),
            json!({ "$ref": "#/components/schemas/Basket" })
        );
        // The same schema again shares its entries.
        components.payload(&first);
        let schemas = &components.schemas;
        assert_eq!(schemas.len(), 4, "{schemas:?}");
        assert_eq!(schemas["Line"], json!({ "type": "string" }));
        assert_eq!(schemas["Line2"], json!({ "type": "integer" }));
        assert_eq!(
            schemas["Basket"]["properties"]["line"]["$ref"],
            "#/components/schemas/Line2"
        );
        assert_eq!(schemas["Order"].get("$schema"), None);
    }

    #[test]
    fn a_recursive_root_refers_to_its_component() {
        let mut components = Components::default();
        let tree = json!({
            "title": "Tree",
            "type": "object",
            "properties": { "children": { "type": "array", "items": { "$ref": "#" } } }
        });
        assert_eq!(
            components.payload(&tree),
            json!({ "$ref": "#/components/schemas/Tree" })
        );
        assert_eq!(
            components.schemas["Tree"]["properties"]["children"]["items"]["$ref"],
            "#/components/schemas/Tree"
        );
    }

    #[test]
    fn schemas_of_other_types_than_structs_and_enums_stay_inline() {
        let mut components = Components::default();
        let payload = components.payload(&json!({ "type": "string" }));
        assert_eq!(payload, json!({ "type": "string" }));
        let list = json!({
            "title": "Array_of_Line",
            "type": "array",
            "items": { "$ref": "#/definitions/Line" },
            "definitions": { "Line": { "type": "object", "properties": {} } }
        });
        assert_eq!(
            components.payload(&list)["items"]["$ref"],
            "#/components/schemas/Line"
        );
        assert_eq!(components.schemas.keys().collect::<Vec<_>>(), ["Line"]);
    }
}
