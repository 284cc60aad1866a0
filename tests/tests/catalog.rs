//! The service catalogue of this binary (`aegis::catalog()`), which links two services and
//! no harness, and its AsyncAPI document.

mod catalog_services;

use aegis::MethodKind;
use aegis::catalog::{ServiceDescriptor, TypeDescriptor};
use aegis::events::SubscriptionMode;
use serde_json::{Value, json};

fn service(name: &str) -> ServiceDescriptor {
    aegis::catalog()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} is in the catalogue"))
}

fn name(ty: &TypeDescriptor) -> &str {
    ty.name
}

#[test]
fn the_catalogue_lists_exactly_the_services_of_the_binary_sorted() {
    let names: Vec<(&str, &str)> = aegis::catalog()
        .iter()
        .map(|s| (s.name, s.version))
        .collect();
    assert_eq!(
        names,
        [("catalog-inventory", "1.2.0"), ("catalog-mailer", "0.1.0")]
    );
    assert_eq!(
        aegis::catalog::services(),
        aegis::catalog(),
        "one list, two names"
    );
    let inventory = service("catalog-inventory");
    assert_eq!(
        inventory,
        ServiceDescriptor::of::<catalog_services::Inventory>()
    );
    assert_eq!(inventory.description, "Keeps the stock.");
    assert_eq!(service("catalog-mailer").description, "");
}

#[test]
fn methods_have_their_kind_subject_types_and_doc() {
    let inventory = service("catalog-inventory");
    let methods: Vec<(&str, MethodKind, &str)> = inventory
        .methods
        .iter()
        .map(|m| (m.name, m.kind, m.subject.as_str()))
        .collect();
    assert_eq!(
        methods,
        [
            ("reserve", MethodKind::Rpc, "rpc.catalog-inventory.reserve"),
            (
                "stock_level",
                MethodKind::Rpc,
                "rpc.catalog-inventory.stock_level"
            ),
            (
                "recount",
                MethodKind::Exclusive,
                "rpc.catalog-inventory.recount"
            ),
        ]
    );
    let [reserve, level, recount] = inventory.methods.as_slice() else {
        unreachable!("three methods, checked above");
    };
    assert_eq!(reserve.request.as_ref().map(name), Some("Reserve"));
    assert_eq!(reserve.response.name, "Reservation");
    assert_eq!(reserve.doc, "Reserves items for an order.");
    assert_eq!(level.request.as_ref().map(name), Some("String"));
    assert_eq!(level.response.name, "u32", "a plain return value");
    assert_eq!(level.doc, "How many are left.");
    assert_eq!(recount.request, None);
    assert_eq!(recount.response.name, "Vec<Line>");

    let mailer = service("catalog-mailer");
    let [ping] = mailer.methods.as_slice() else {
        panic!("`hidden` is compiled out: {:?}", mailer.methods);
    };
    assert_eq!(
        (ping.name, ping.response.name, ping.doc),
        ("ping", "()", "")
    );
    assert_eq!(ping.request, None);
}

#[test]
fn subscriptions_and_commands_are_listed() {
    let inventory = service("catalog-inventory");
    let [on_order] = inventory.events.as_slice() else {
        panic!("one subscription: {:?}", inventory.events);
    };
    assert_eq!(on_order.handler, "on_order");
    assert_eq!(on_order.pattern, "orders.*");
    assert_eq!(on_order.subject, "events.orders.*");
    assert_eq!(on_order.mode, SubscriptionMode::Broadcast);
    assert_eq!(on_order.payload.name, "OrderShipped", "`T` of `Event<T>`");
    assert_eq!(on_order.doc, "Restocks when an order ships.");
    let [reindex] = inventory.commands.as_slice() else {
        panic!("one command: {:?}", inventory.commands);
    };
    assert_eq!(reindex.subject, "commands.catalog-inventory.reindex");
    assert_eq!(reindex.payload.as_ref().map(name), Some("Scope"));
    assert_eq!(reindex.result.name, "u64");
    assert_eq!(reindex.doc, "Rebuilds the index.");

    let mailer = service("catalog-mailer");
    let [audit] = mailer.events.as_slice() else {
        panic!("one subscription: {:?}", mailer.events);
    };
    assert_eq!(
        (audit.subject.as_str(), audit.mode),
        ("events.>", SubscriptionMode::Compete)
    );
    assert_eq!(audit.payload.name, "serde_json::Value");
    let [flush] = mailer.commands.as_slice() else {
        panic!("one command: {:?}", mailer.commands);
    };
    assert_eq!(
        (flush.name, flush.subject.as_str()),
        ("flush_all", "commands.catalog-mailer.flush_all")
    );
    assert_eq!((flush.payload.as_ref(), flush.result.name), (None, "()"));
}

/// The tests crate enables `schemars`: types that implement `JsonSchema` have a schema
/// (draft 7), the others none.
#[test]
fn json_schemas_of_the_types_that_have_one() {
    let inventory = service("catalog-inventory");
    let reserve = &inventory.methods[0];
    let request = reserve.request.as_ref().and_then(|t| t.schema.as_ref());
    let request = request.expect("Reserve implements JsonSchema");
    assert_eq!(
        request["$schema"],
        "http://json-schema.org/draft-07/schema#"
    );
    assert_eq!(request["title"], "Reserve");
    assert_eq!(request["properties"]["quantity"]["type"], "integer");
    let response = reserve.response.schema.as_ref().expect("Reservation too");
    assert_eq!(
        response["properties"]["lines"]["items"]["$ref"],
        "#/definitions/Line"
    );
    assert_eq!(response["definitions"]["Line"]["type"], "object");
    let level = &inventory.methods[1];
    assert_eq!(
        level.response.schema.as_ref().map(|s| &s["type"]),
        Some(&json!("integer"))
    );
    assert!(inventory.events[0].payload.schema.is_some());
    let reindex = &inventory.commands[0];
    assert_eq!(
        reindex.payload.as_ref().map(|t| &t.schema),
        Some(&None),
        "Scope does not implement JsonSchema"
    );
    assert!(reindex.result.schema.is_some());
}

#[test]
fn the_catalogue_serializes_to_json() {
    let json = serde_json::to_value(aegis::catalog()).expect("serializes");
    let inventory = &json[0];
    assert_eq!(inventory["name"], "catalog-inventory");
    assert_eq!(inventory["methods"][2]["kind"], "exclusive_rpc");
    assert_eq!(inventory["methods"][0]["request"]["name"], "Reserve");
    assert_eq!(inventory["events"][0]["mode"], "broadcast");
    assert_eq!(
        inventory["commands"][0]["payload"],
        json!({ "name": "Scope" })
    );
    assert_eq!(json[1]["methods"][0]["request"], Value::Null);
}

#[test]
fn the_asyncapi_document_has_every_channel_and_operation() {
    let document = aegis::catalog::asyncapi();
    let text = serde_json::to_string(&document).expect("serializes");
    let document: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(document["asyncapi"], "3.0.0");
    assert!(document["info"]["title"].is_string());
    assert_eq!(
        document["info"]["version"],
        "catalog-inventory@1.2.0, catalog-mailer@0.1.0"
    );

    let channels = document["channels"].as_object().expect("channels");
    let mut addresses: Vec<(&str, &Value)> = channels
        .iter()
        .map(|(id, channel)| (id.as_str(), &channel["address"]))
        .collect();
    addresses.sort_by_key(|(id, _)| *id);
    assert_eq!(
        addresses,
        [
            (
                "command__catalog-inventory__reindex",
                &json!("commands.catalog-inventory.reindex")
            ),
            (
                "command__catalog-mailer__flush_all",
                &json!("commands.catalog-mailer.flush_all")
            ),
            (
                "command_result__catalog-inventory__reindex",
                &json!("_INBOX.aegis.{command_id}")
            ),
            (
                "command_result__catalog-mailer__flush_all",
                &json!("_INBOX.aegis.{command_id}")
            ),
            (
                "event__catalog-inventory__on_order",
                &json!("events.orders.*")
            ),
            ("event__catalog-mailer__audit", &json!("events.>")),
            (
                "rpc__catalog-inventory__recount",
                &json!("rpc.catalog-inventory.recount")
            ),
            (
                "rpc__catalog-inventory__reserve",
                &json!("rpc.catalog-inventory.reserve")
            ),
            (
                "rpc__catalog-inventory__stock_level",
                &json!("rpc.catalog-inventory.stock_level")
            ),
            (
                "rpc__catalog-mailer__ping",
                &json!("rpc.catalog-mailer.ping")
            ),
            ("rpc_reply__catalog-inventory__recount", &Value::Null),
            ("rpc_reply__catalog-inventory__reserve", &Value::Null),
            ("rpc_reply__catalog-inventory__stock_level", &Value::Null),
            ("rpc_reply__catalog-mailer__ping", &Value::Null),
        ]
    );

    let operations = document["operations"].as_object().expect("operations");
    assert_eq!(operations.len(), 8, "one per handler");
    let reserve = &operations["rpc__catalog-inventory__reserve"];
    assert_eq!(reserve["action"], "receive");
    assert_eq!(
        reserve["channel"]["$ref"],
        "#/channels/rpc__catalog-inventory__reserve"
    );
    assert_eq!(
        reserve["reply"]["channel"]["$ref"],
        "#/channels/rpc_reply__catalog-inventory__reserve"
    );
    assert_eq!(reserve["summary"], "Reserves items for an order.");
    assert_eq!(reserve["x-aegis-kind"], "rpc");
    assert_eq!(
        operations["rpc__catalog-inventory__recount"]["x-aegis-kind"],
        "exclusive_rpc"
    );
    let on_order = &operations["event__catalog-inventory__on_order"];
    assert_eq!(
        (&on_order["action"], on_order.get("reply")),
        (&json!("receive"), None)
    );
    assert_eq!(on_order["x-aegis-mode"], "broadcast");
    let reindex = &operations["command__catalog-inventory__reindex"];
    assert_eq!(
        reindex["reply"]["messages"][0]["$ref"],
        "#/channels/command_result__catalog-inventory__reindex/messages/result"
    );

    // Payload schemas in `components.schemas`, nested definitions beside them.
    let request = &channels["rpc__catalog-inventory__reserve"]["messages"]["request"];
    assert_eq!(request["title"], "Reserve");
    assert_eq!(request["payload"]["$ref"], "#/components/schemas/Reserve");
    let level = &channels["rpc_reply__catalog-inventory__stock_level"]["messages"]["response"];
    assert_eq!(level["payload"]["type"], "integer", "a `u32`, inline");
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    assert_eq!(
        schemas["Reservation"]["properties"]["lines"]["items"]["$ref"],
        "#/components/schemas/Line"
    );
    let mut names: Vec<&str> = schemas.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["Line", "OrderShipped", "Reservation", "Reserve"]);
    let command = &channels["command__catalog-inventory__reindex"]["messages"]["command"];
    assert_eq!(
        (&command["title"], command.get("payload")),
        (&json!("Scope"), None)
    );

    let mut references = Vec::new();
    collect_refs(&document, &mut references);
    assert!(references.len() > 20, "{references:?}");
    for reference in references {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference} is not local"));
        assert!(
            document.pointer(pointer).is_some(),
            "{reference} resolves inside the document"
        );
    }
}

#[test]
fn asyncapi_of_a_chosen_list() {
    let services = [service("catalog-mailer")];
    let document = aegis::catalog::asyncapi_of(&services, "mailer");
    assert_eq!(
        document["info"],
        json!({ "title": "mailer", "version": "0.1.0", "tags": [{ "name": "catalog-mailer" }] })
    );
    assert_eq!(document["operations"].as_object().map(|o| o.len()), Some(3));
    let ping = &document["channels"]["rpc__catalog-mailer__ping"]["messages"]["request"];
    assert_eq!(
        *ping,
        json!({ "name": "request", "summary": "No payload." })
    );
}

fn collect_refs<'a>(value: &'a Value, into: &mut Vec<&'a str>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => into.push(reference),
                    _ => collect_refs(value, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, into)),
        _ => {}
    }
}
