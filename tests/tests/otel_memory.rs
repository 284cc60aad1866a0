//! Feature `otel`, with an in-memory span exporter: a client span → `front` → (nested call)
//! `back` → an event and a command, exported as one trace with the right parent links, the
//! span ids the handlers see being the exported ones. One test: it installs the global
//! subscriber.

use aegis::Backend;
use aegis_tests::propagation::{BackClient, Fleet, Seen};
use opentelemetry::trace::{SpanId, SpanKind, Status, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Instrument;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn find<'a>(spans: &'a [SpanData], name: &str, kind: SpanKind) -> &'a SpanData {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.name == name && s.span_kind == kind)
        .collect();
    match found.as_slice() {
        [one] => one,
        _ => panic!(
            "expected one {kind:?} span `{name}`, found {}: {:#?}",
            found.len(),
            spans
                .iter()
                .map(|s| (&s.name, &s.span_kind))
                .collect::<Vec<_>>()
        ),
    }
}

fn hex(span: &SpanData) -> String {
    span.span_context.span_id().to_string()
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_exported_trace_across_calls_events_and_commands() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("test"))
        .with_filter(aegis::otel::span_filter());
    tracing_subscriber::registry().with(otel).init();

    let backend = Backend::in_memory();
    let fleet = Fleet::start(&backend).await;
    let root = tracing::info_span!("checkout");
    let [front, back] = Fleet::relay(&backend).instrument(root.clone()).await;
    let [archive, on_done] = fleet.sunk().await;
    drop(root);
    // A call that fails, for the error status.
    let refused = BackClient::new(&backend).refuse().await;
    assert!(
        matches!(refused, Err(aegis::Error::Remote { code: 403, .. })),
        "{refused:?}"
    );
    fleet.stop().await;
    provider.force_flush().expect("flushes");
    let spans = exporter.get_finished_spans().expect("spans");

    let checkout = find(&spans, "checkout", SpanKind::Internal);
    let front_client = find(&spans, "front/relay", SpanKind::Client);
    let front_server = find(&spans, "front/relay", SpanKind::Server);
    let back_servers: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "back/work" && s.span_kind == SpanKind::Server)
        .collect();
    let back_server = back_servers
        .iter()
        .find(|s| s.span_context.trace_id() == checkout.span_context.trace_id())
        .expect("back's server span in the checkout trace");
    let back_client = spans
        .iter()
        .find(|s| {
            s.name == "back/work"
                && s.span_kind == SpanKind::Client
                && s.parent_span_id == front_server.span_context.span_id()
        })
        .expect("front's client span calling back");
    let consumers: Vec<_> = spans
        .iter()
        .filter(|s| {
            s.span_kind == SpanKind::Consumer
                && s.span_context.trace_id() == checkout.span_context.trace_id()
        })
        .collect();
    assert_eq!(consumers.len(), 2, "{consumers:#?}");
    let event = consumers
        .iter()
        .find(|s| s.name == "events.audit.done process")
        .expect("the event's consumer span");
    let command = consumers
        .iter()
        .find(|s| s.name == "commands.sink.archive process")
        .expect("the command's consumer span");

    // One trace.
    let trace_id = checkout.span_context.trace_id();
    for span in [
        front_client,
        front_server,
        *back_server,
        back_client,
        event,
        command,
    ] {
        assert_eq!(span.span_context.trace_id(), trace_id, "{}", span.name);
    }
    assert_eq!(front.trace_id, trace_id.to_string());
    // Parent links: each span the child of the one that sent its message.
    let parent = |span: &SpanData| span.parent_span_id;
    assert_eq!(checkout.parent_span_id, SpanId::INVALID);
    assert_eq!(parent(front_client), checkout.span_context.span_id());
    assert_eq!(parent(front_server), front_client.span_context.span_id());
    assert_eq!(parent(back_client), front_server.span_context.span_id());
    assert_eq!(parent(back_server), back_client.span_context.span_id());
    assert_eq!(parent(event), back_server.span_context.span_id());
    assert_eq!(parent(command), back_server.span_context.span_id());
    assert!(front_server.parent_span_is_remote);
    // The handlers ran in the exported spans.
    let seen = |seen: &Seen, span: &SpanData| {
        assert_eq!(seen.span_id, hex(span), "{}", seen.name);
        assert_eq!(
            seen.parent_span_id,
            Some(parent(span).to_string()),
            "{}",
            seen.name
        );
    };
    seen(&front, front_server);
    seen(&back, back_server);
    seen(&on_done, event);
    seen(&archive, command);
    // Semantic conventions.
    assert_eq!(
        attribute(front_server, "rpc.system").as_deref(),
        Some("aegis")
    );
    assert_eq!(
        attribute(front_server, "rpc.service").as_deref(),
        Some("front")
    );
    assert_eq!(
        attribute(front_server, "rpc.method").as_deref(),
        Some("relay")
    );
    assert_eq!(
        attribute(front_server, "messaging.system").as_deref(),
        Some("nats")
    );
    assert_eq!(
        attribute(front_server, "messaging.destination.name").as_deref(),
        Some("rpc.front.relay")
    );
    assert_eq!(front_server.status, Status::Unset);
    // A failure: both ends' spans say so, with the code.
    for kind in [SpanKind::Server, SpanKind::Client] {
        let refused = find(&spans, "back/refuse", kind);
        assert!(
            matches!(refused.status, Status::Error { .. }),
            "{refused:?}"
        );
        assert_eq!(
            attribute(refused, "error.type").as_deref(),
            Some("FORBIDDEN")
        );
        assert_eq!(
            attribute(refused, "rpc.response.status_code").as_deref(),
            Some("403")
        );
    }
}
