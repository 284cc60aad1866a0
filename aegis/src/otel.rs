//! OpenTelemetry (feature `otel`): handler spans joined to their callers' traces, client spans
//! whose context the requests carry, and an OTLP exporter in one call.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Spans go to OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318), over HTTP.
//! let _telemetry = aegis::otel::init("echo-service")?;
//! # Ok(()) }
//! ```
//!
//! Aegis's spans follow the OpenTelemetry RPC and messaging conventions: an RPC handler's is
//! a `server` span named `{service}/{method}` with `rpc.system = "aegis"`, `rpc.service`,
//! `rpc.method`, `messaging.system = "nats"` and `messaging.destination.name` (the subject);
//! a generated client's call is the matching `client` span; event and command handlers are
//! `consumer` spans. A failure sets the span's status to error, with `error.type` (the code
//! name, e.g. `NOT_FOUND`) and `rpc.response.status_code` (the numeric code). The spans are at
//! the `DEBUG` level of the `aegis` target: a subscriber composed by hand must enable them
//! for its OpenTelemetry layer (`init` does).

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, filter};

use crate::domain::trace::TraceContext;

/// Exports while it lives; dropping it flushes the spans not yet sent and stops the exporter.
#[must_use = "spans are exported only while the guard lives"]
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// The tracer provider, for spans you create with the OpenTelemetry API.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("aegis::otel: could not flush the last spans: {error}");
        }
    }
}

/// Why [`init`] failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The OTLP exporter could not be built (an invalid endpoint, say).
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A global `tracing` subscriber was already installed.
    #[error("a tracing subscriber is already installed: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
}

/// Installs a global `tracing` subscriber that logs to stderr (filtered by `RUST_LOG`,
/// warnings by default) and exports spans over OTLP/HTTP, with `service.name` =
/// `service_name` (unless `OTEL_SERVICE_NAME` says otherwise). The exporter reads the standard
/// variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (default `http://localhost:4318`),
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`,
/// `OTEL_EXPORTER_OTLP_TIMEOUT`. Keep the returned guard until the program ends.
pub fn init(service_name: &str) -> Result<Telemetry, InitError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let service_name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| service_name.to_owned());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service_name).build())
        .build();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("aegis"))
        .with_filter(span_filter());
    let logs = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<filter::Targets>().ok())
        .unwrap_or_else(|| filter::Targets::new().with_default(tracing::Level::WARN));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(logs),
        )
        .with(otel)
        .try_init()?;
    Ok(Telemetry { provider })
}

/// What an OpenTelemetry layer should see of aegis: its spans (at `DEBUG`), and everything
/// else at `INFO` and above.
pub fn span_filter() -> filter::Targets {
    filter::Targets::new()
        .with_target("aegis", tracing::Level::DEBUG)
        .with_default(tracing::Level::INFO)
}

/// Joins a handler's span to the trace it received: its OpenTelemetry parent becomes the
/// sender's span, and its OpenTelemetry ids become the handler's trace context (a span no
/// OpenTelemetry layer sees keeps aegis's own).
pub(crate) fn adopt(span: &tracing::Span, trace: TraceContext) -> TraceContext {
    if let Some(parent) = trace.parent() {
        let (trace_id, _) = trace.ids();
        let flags = if trace.sampled() {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let state = trace
            .tracestate()
            .and_then(|s| s.parse::<TraceState>().ok())
            .unwrap_or_default();
        let remote = SpanContext::new(
            TraceId::from(trace_id),
            SpanId::from(parent),
            flags,
            true,
            state,
        );
        let cx = opentelemetry::Context::new().with_remote_span_context(remote);
        if span.set_parent(cx).is_err() {
            return trace;
        }
    }
    own_ids(span).map_or(trace.clone(), |(trace_id, span_id)| {
        trace.with_ids(trace_id, span_id)
    })
}

/// The trace context of the current `tracing` span, if an OpenTelemetry layer sees it.
pub(crate) fn current() -> Option<TraceContext> {
    let span = tracing::Span::current();
    let (trace_id, span_id) = own_ids(&span)?;
    let context = span.context();
    let otel = context.span();
    let span_context = otel.span_context();
    let state = span_context.trace_state().header();
    let header = format!(
        "00-{trace_id:032x}-{span_id:016x}-{:02x}",
        span_context.trace_flags().to_u8()
    );
    TraceContext::from_headers(&header, Some(&state))
}

fn own_ids(span: &tracing::Span) -> Option<(u128, u64)> {
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    let otel = context.span();
    let span_context = otel.span_context();
    span_context.is_valid().then(|| {
        (
            u128::from_be_bytes(span_context.trace_id().to_bytes()),
            u64::from_be_bytes(span_context.span_id().to_bytes()),
        )
    })
}
