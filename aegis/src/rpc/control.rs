//! The NATS micro control plane (ADR-32): `$SRV.PING|INFO|STATS[.name[.id]]`, so that
//! standard NATS tooling (`nats micro ls`) finds aegis services and their endpoints.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::catalog::{MethodDescriptor, ServiceDescriptor, TypeDescriptor};
use crate::domain::subject::{control_subjects, rpc_queue_group, rpc_subject};
use crate::service::MethodKind;

/// Which control request a subscription serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ControlKind {
    Ping,
    Info,
    Stats,
}

impl ControlKind {
    const ALL: [ControlKind; 3] = [ControlKind::Ping, ControlKind::Info, ControlKind::Stats];

    fn verb(self) -> &'static str {
        match self {
            ControlKind::Ping => "PING",
            ControlKind::Info => "INFO",
            ControlKind::Stats => "STATS",
        }
    }
}

/// The nine subjects one instance answers: each verb for all services, by name, by name and id.
pub(crate) fn subjects(service: &str, instance_id: &str) -> Vec<(String, ControlKind)> {
    ControlKind::ALL
        .iter()
        .flat_map(|&kind| {
            control_subjects(kind.verb(), service, instance_id).map(|subject| (subject, kind))
        })
        .collect()
}

/// Request counters of one endpoint.
#[derive(Debug, Default)]
pub(crate) struct EndpointStats {
    requests: AtomicU64,
    errors: AtomicU64,
    processing_nanos: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl EndpointStats {
    pub(crate) fn record(&self, elapsed: Duration, error: Option<(u16, &str)>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.processing_nanos.fetch_add(nanos, Ordering::Relaxed);
        if let Some((code, message)) = error {
            self.errors.fetch_add(1, Ordering::Relaxed);
            let text = format!("{code}:{message}");
            *self
                .last_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(text);
        }
    }

    /// Requests served so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// What the control plane needs to know about the instance.
pub(crate) struct Identity<'a> {
    pub(crate) service: &'a str,
    pub(crate) version: &'a str,
    pub(crate) instance_id: &'a str,
    pub(crate) started: &'a str,
    pub(crate) endpoints: &'a [(&'static str, EndpointStats)],
    /// Each endpoint's metadata, in the order of `endpoints` ([`endpoint_metadata`]).
    pub(crate) endpoint_metadata: &'a [Vec<(&'static str, String)>],
    pub(crate) description: &'a str,
    /// The service's metadata (the same in every response, as ADR-32 asks).
    pub(crate) metadata: &'a [(&'static str, String)],
}

impl Identity<'_> {
    fn metadata(&self) -> HashMap<String, String> {
        to_map(self.metadata)
    }
}

fn to_map(metadata: &[(&'static str, String)]) -> HashMap<String, String> {
    metadata
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

/// The service's metadata, the same in every `$SRV` response: `aegis.version`; the
/// single-active `group` of a service with exclusive methods (`aegis.group`); its
/// subscriptions and commands as compact JSON arrays (`aegis.events`, `aegis.commands`),
/// when it has any. Docs and schemas stay out (`PING` carries this too): they are on the
/// endpoints, and in the binary's `aegis::catalog()`.
pub(crate) fn service_metadata(
    descriptor: &ServiceDescriptor,
    group: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut metadata = vec![("aegis.version", env!("CARGO_PKG_VERSION").to_owned())];
    if let Some(group) = group {
        metadata.push(("aegis.group", group.to_owned()));
    }
    if !descriptor.events.is_empty() {
        let events: Vec<EventMetadata<'_>> = descriptor
            .events
            .iter()
            .map(|event| EventMetadata {
                handler: event.handler,
                subject: &event.subject,
                mode: event.mode.to_string(),
                payload: event.payload.name,
            })
            .collect();
        metadata.push(("aegis.events", to_json(&events)));
    }
    if !descriptor.commands.is_empty() {
        let commands: Vec<CommandMetadata<'_>> = descriptor
            .commands
            .iter()
            .map(|command| CommandMetadata {
                name: command.name,
                subject: &command.subject,
                payload: command.payload.as_ref().map(|ty| ty.name),
                result: command.result.name,
            })
            .collect();
        metadata.push(("aegis.commands", to_json(&commands)));
    }
    metadata
}

/// One endpoint's metadata: `aegis.kind`; from its descriptor, when known, the type names
/// (`aegis.request`, absent without a payload; `aegis.response`), the doc (`aegis.doc`, when
/// any) and the JSON Schemas (`aegis.request_schema`, `aegis.response_schema`, feature
/// `schemars`, when the types implement `JsonSchema`).
pub(crate) fn endpoint_metadata(
    kind: MethodKind,
    method: Option<&MethodDescriptor>,
) -> Vec<(&'static str, String)> {
    let mut metadata = vec![("aegis.kind", kind.attribute().to_owned())];
    let Some(method) = method else {
        return metadata;
    };
    let mut type_metadata = |name: &'static str, schema: &'static str, ty: &TypeDescriptor| {
        metadata.push((name, ty.name.to_owned()));
        if let Some(value) = &ty.schema {
            metadata.push((schema, to_json(value)));
        }
    };
    if let Some(request) = &method.request {
        type_metadata("aegis.request", "aegis.request_schema", request);
    }
    type_metadata("aegis.response", "aegis.response_schema", &method.response);
    if !method.doc.is_empty() {
        metadata.push(("aegis.doc", method.doc.to_owned()));
    }
    metadata
}

#[derive(Serialize)]
struct EventMetadata<'a> {
    handler: &'a str,
    subject: &'a str,
    mode: String,
    payload: &'a str,
}

#[derive(Serialize)]
struct CommandMetadata<'a> {
    name: &'a str,
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a str>,
    result: &'a str,
}

/// Compact JSON; serializing strings and JSON values cannot fail.
fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[derive(Serialize)]
struct Ping<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    id: &'a str,
    version: &'a str,
    metadata: HashMap<String, String>,
}

#[derive(Serialize)]
struct Info<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    id: &'a str,
    version: &'a str,
    metadata: HashMap<String, String>,
    description: &'a str,
    endpoints: Vec<EndpointInfo>,
}

#[derive(Serialize)]
struct EndpointInfo {
    name: &'static str,
    subject: String,
    queue_group: String,
    metadata: HashMap<String, String>,
}

#[derive(Serialize)]
struct Stats<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    id: &'a str,
    version: &'a str,
    metadata: HashMap<String, String>,
    started: &'a str,
    endpoints: Vec<EndpointStatsJson>,
}

#[derive(Serialize)]
struct EndpointStatsJson {
    name: &'static str,
    subject: String,
    queue_group: String,
    num_requests: u64,
    num_errors: u64,
    last_error: String,
    processing_time: u64,
    average_processing_time: u64,
}

/// The JSON answer to a control request.
pub(crate) fn respond(kind: ControlKind, id: &Identity<'_>) -> Vec<u8> {
    let encoded = match kind {
        ControlKind::Ping => serde_json::to_vec(&Ping {
            kind: "io.nats.micro.v1.ping_response",
            name: id.service,
            id: id.instance_id,
            version: id.version,
            metadata: id.metadata(),
        }),
        ControlKind::Info => serde_json::to_vec(&Info {
            kind: "io.nats.micro.v1.info_response",
            name: id.service,
            id: id.instance_id,
            version: id.version,
            metadata: id.metadata(),
            description: id.description,
            endpoints: id
                .endpoints
                .iter()
                .zip(id.endpoint_metadata)
                .map(|((name, _), metadata)| EndpointInfo {
                    name,
                    subject: rpc_subject(id.service, name),
                    queue_group: rpc_queue_group(id.service),
                    metadata: to_map(metadata),
                })
                .collect(),
        }),
        ControlKind::Stats => serde_json::to_vec(&Stats {
            kind: "io.nats.micro.v1.stats_response",
            name: id.service,
            id: id.instance_id,
            version: id.version,
            metadata: id.metadata(),
            started: id.started,
            endpoints: id
                .endpoints
                .iter()
                .map(|(name, stats)| {
                    let requests = stats.requests();
                    let total = stats.processing_nanos.load(Ordering::Relaxed);
                    EndpointStatsJson {
                        name,
                        subject: rpc_subject(id.service, name),
                        queue_group: rpc_queue_group(id.service),
                        num_requests: requests,
                        num_errors: stats.errors.load(Ordering::Relaxed),
                        last_error: stats
                            .last_error
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .clone()
                            .unwrap_or_default(),
                        processing_time: total,
                        average_processing_time: total.checked_div(requests).unwrap_or(0),
                    }
                })
                .collect(),
        }),
    };
    // Serializing maps of strings and numbers cannot fail.
    encoded.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_subjects_per_instance() {
        let subjects = subjects("echo-service", "echo-1");
        assert_eq!(subjects.len(), 9);
        assert!(subjects.contains(&("$SRV.PING".to_owned(), ControlKind::Ping)));
        assert!(subjects.contains(&("$SRV.INFO.echo-service".to_owned(), ControlKind::Info)));
        assert!(subjects.contains(&(
            "$SRV.STATS.echo-service.echo-1".to_owned(),
            ControlKind::Stats
        )));
    }

    #[test]
    fn stats_average_and_last_error() {
        let endpoints = [("echo", EndpointStats::default())];
        endpoints[0].1.record(Duration::from_nanos(100), None);
        endpoints[0]
            .1
            .record(Duration::from_nanos(300), Some((500, "boom")));
        let id = Identity {
            service: "echo-service",
            version: "1.0.0",
            instance_id: "echo-1",
            started: "2026-11-27T00:00:00Z",
            endpoints: &endpoints,
            endpoint_metadata: &[endpoint_metadata(MethodKind::Rpc, None)],
            description: "Echoes.",
            metadata: &[("aegis.version", "0.1.0".to_owned())],
        };
        let stats: serde_json::Value =
            serde_json::from_slice(&respond(ControlKind::Stats, &id)).expect("json");
        let endpoint = &stats["endpoints"][0];
        assert_eq!(endpoint["num_requests"], 2);
        assert_eq!(endpoint["num_errors"], 1);
        assert_eq!(endpoint["processing_time"], 400);
        assert_eq!(endpoint["average_processing_time"], 200);
        assert_eq!(endpoint["last_error"], "500:boom");
        assert_eq!(endpoint["queue_group"], "rpc.echo-service");
        assert_eq!(stats["metadata"]["aegis.version"], "0.1.0");
    }
}
