//! `aegis info SERVICE`: its endpoints (`$SRV.INFO`) and their statistics over every
//! instance (`$SRV.STATS`).

use std::collections::BTreeMap;
use std::time::Duration;

use aegis::Backend;
use serde_json::{Value, json};

use crate::control;
use crate::output::{Table, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The service
    service: String,
    /// Print JSON (`info`: every instance's `$SRV.INFO`; `stats`: their `$SRV.STATS`)
    #[arg(long)]
    json: bool,
    /// How long to wait for answers, in seconds
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = crate::seconds)]
    wait: Duration,
}

/// Requests, errors and processing time of one endpoint, summed over instances.
#[derive(Debug, Default)]
struct Totals {
    requests: u64,
    errors: u64,
    nanos: u64,
}

pub(crate) async fn run(backend: &Backend, args: Args) -> anyhow::Result<()> {
    let service = Some(args.service.as_str());
    let (infos, stats) = tokio::join!(
        control::gather(backend, "INFO", service, args.wait),
        control::gather(backend, "STATS", service, args.wait)
    );
    let (infos, stats) = (infos?, stats?);
    let Some(info) = infos.first() else {
        anyhow::bail!(
            "no instance of `{}` answered $SRV.INFO within {:?} (is it running, and an aegis or NATS micro service?)",
            args.service,
            args.wait
        );
    };
    if args.json {
        return print_json(&json!({ "info": infos, "stats": stats }));
    }
    let mut totals: BTreeMap<&str, Totals> = BTreeMap::new();
    for answer in &stats {
        for endpoint in answer["endpoints"].as_array().into_iter().flatten() {
            let Some(name) = endpoint["name"].as_str() else {
                continue;
            };
            let total = totals.entry(name).or_default();
            total.requests += endpoint["num_requests"].as_u64().unwrap_or(0);
            total.errors += endpoint["num_errors"].as_u64().unwrap_or(0);
            total.nanos += endpoint["processing_time"].as_u64().unwrap_or(0);
        }
    }
    println!(
        "{} {} ({} instance{})",
        text(&info["name"]),
        text(&info["version"]),
        infos.len(),
        if infos.len() == 1 { "" } else { "s" }
    );
    if let Some(description) = info["description"].as_str().filter(|d| !d.is_empty()) {
        println!("{description}");
    }
    let metadata = &info["metadata"];
    for (key, value) in metadata.as_object().into_iter().flatten() {
        if !LISTS.contains(&key.as_str()) {
            println!("  {key}: {}", text(value));
        }
    }
    println!();
    let mut table = Table::new(&[
        "METHOD", "KIND", "SUBJECT", "REQUEST", "RESPONSE", "REQUESTS", "ERRORS", "AVG",
    ]);
    for endpoint in info["endpoints"].as_array().into_iter().flatten() {
        let name = text(&endpoint["name"]);
        let metadata = &endpoint["metadata"];
        let total = totals.get(name.as_str());
        let average = total
            .filter(|t| t.requests > 0)
            .map(|t| format!("{:.2?}", Duration::from_nanos(t.nanos / t.requests)));
        table.row(vec![
            name.clone(),
            text(&metadata["aegis.kind"]),
            text(&endpoint["subject"]),
            text(&metadata["aegis.request"]),
            text(&metadata["aegis.response"]),
            total.map_or(0, |t| t.requests).to_string(),
            total.map_or(0, |t| t.errors).to_string(),
            average.unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    if info["endpoints"].as_array().is_some_and(|e| !e.is_empty()) {
        table.print();
    } else {
        println!("(no RPC methods)");
    }
    // The catalogue's events and commands (aegis 0.1 services and later), as JSON text.
    let list = |key: &str| -> Vec<Value> {
        metadata[key]
            .as_str()
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    };
    let events = list("aegis.events");
    if !events.is_empty() {
        println!();
        let mut table = Table::new(&["EVENT HANDLER", "MODE", "SUBJECT", "PAYLOAD"]);
        for event in &events {
            table.row(vec![
                text(&event["handler"]),
                text(&event["mode"]),
                text(&event["subject"]),
                text(&event["payload"]),
            ]);
        }
        table.print();
    }
    let commands = list("aegis.commands");
    if !commands.is_empty() {
        println!();
        let mut table = Table::new(&["COMMAND", "SUBJECT", "PAYLOAD", "RESULT"]);
        for command in &commands {
            table.row(vec![
                text(&command["name"]),
                text(&command["subject"]),
                text(&command["payload"]),
                text(&command["result"]),
            ]);
        }
        table.print();
    }
    Ok(())
}

/// Service metadata that holds lists, shown as tables of their own.
const LISTS: [&str; 2] = ["aegis.events", "aegis.commands"];

/// A JSON value as text: strings bare, `-` for null.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
