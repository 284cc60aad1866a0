//! A running service publishes its catalogue entry in `$SRV.INFO` on NATS: the endpoints'
//! types, docs and schemas, the service's subscriptions and commands.

mod catalog_services;

use std::collections::HashMap;

use aegis::{ServiceBuilder, ServiceConfig};
use aegis_tests::nats_server::NatsServer;
use aegis_tests::rpc::raw_request;
use catalog_services::{Inventory, Mailer};
use serde_json::{Value, json};

fn json_in(metadata: &HashMap<String, String>, key: &str) -> Value {
    let text = metadata
        .get(key)
        .unwrap_or_else(|| panic!("`{key}` in {metadata:?}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("`{key}` is JSON: {e}: {text}"))
}

#[tokio::test]
async fn srv_info_carries_types_docs_schemas_events_and_commands() {
    let server = NatsServer::start();
    let backend = server.backend().await;
    let config = || ServiceConfig::new().enable_registration(false);
    let inventory = ServiceBuilder::new(Inventory)
        .config(config())
        .start(&backend)
        .await
        .expect("inventory starts");
    let mailer = ServiceBuilder::new(Mailer)
        .config(config())
        .start(&backend)
        .await
        .expect("mailer starts");

    let reply = raw_request(&backend, "$SRV.INFO.catalog-inventory", Vec::new())
        .await
        .expect("INFO answers");
    let info: async_nats::service::Info =
        serde_json::from_slice(&reply.payload).expect("an ADR-32 info response");
    assert_eq!(info.description, "Keeps the stock.");
    let version = info.metadata.get("aegis.version").map(String::as_str);
    assert_eq!(version, Some(env!("CARGO_PKG_VERSION")), "kept");
    assert!(info.metadata.contains_key("aegis.group"), "kept");
    assert_eq!(
        json_in(&info.metadata, "aegis.events"),
        json!([{
            "handler": "on_order",
            "subject": "events.orders.*",
            "mode": "broadcast",
            "payload": "OrderShipped",
        }])
    );
    assert_eq!(
        json_in(&info.metadata, "aegis.commands"),
        json!([{
            "name": "reindex",
            "subject": "commands.catalog-inventory.reindex",
            "payload": "Scope",
            "result": "u64",
        }])
    );

    let endpoint = |name: &str| {
        info.endpoints
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("endpoint {name} in {:?}", info.endpoints))
            .metadata
            .clone()
    };
    let reserve = endpoint("reserve");
    let text = |key: &str| reserve.get(key).map(String::as_str);
    assert_eq!(text("aegis.kind"), Some("rpc"), "kept");
    assert_eq!(text("aegis.request"), Some("Reserve"));
    assert_eq!(text("aegis.response"), Some("Reservation"));
    assert_eq!(text("aegis.doc"), Some("Reserves items for an order."));
    let request_schema = json_in(&reserve, "aegis.request_schema");
    assert_eq!(request_schema["title"], "Reserve");
    let response_schema = json_in(&reserve, "aegis.response_schema");
    assert_eq!(response_schema["definitions"]["Line"]["type"], "object");
    let recount = endpoint("recount");
    assert_eq!(
        recount.get("aegis.kind").map(String::as_str),
        Some("exclusive_rpc")
    );
    assert_eq!(recount.get("aegis.request"), None, "no payload");
    assert_eq!(
        recount.get("aegis.response").map(String::as_str),
        Some("Vec<Line>")
    );

    let reply = raw_request(&backend, "$SRV.INFO.catalog-mailer", Vec::new())
        .await
        .expect("INFO answers");
    let info: async_nats::service::Info =
        serde_json::from_slice(&reply.payload).expect("an ADR-32 info response");
    assert_eq!(
        json_in(&info.metadata, "aegis.commands"),
        json!([{ "name": "flush_all", "subject": "commands.catalog-mailer.flush_all", "result": "()" }]),
        "no payload: no `payload` key"
    );
    assert_eq!(info.metadata.get("aegis.group"), None);
    let [ping] = info.endpoints.as_slice() else {
        panic!("one endpoint: {:?}", info.endpoints);
    };
    let mut keys: Vec<&str> = ping.metadata.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["aegis.kind", "aegis.response", "aegis.response_schema"],
        "no payload, no doc"
    );

    inventory.stop().await.expect("stops");
    mailer.stop().await.expect("stops");
}
