//! OpenTelemetry export of the host's `tracing` spans (feature `otel`): `run`, `task_attempt`,
//! `pg_statement` and `adls2_request`, with their fields as attributes and the log events inside
//! them as span events, sent over OTLP/HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), protobuf by default or JSON with
//! `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`.
//!
//! Every string that leaves (span and event names, attribute values, status descriptions)
//! goes through the run's secret scrubber first, exactly as the log lines on stderr do.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::resource::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

use crate::redact::Scrubber;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether the environment asks for export.
pub fn wanted() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()))
}

/// The layer that turns spans into OpenTelemetry spans, or the reason it cannot be built
/// (a bad endpoint, say); the caller logs that and runs without export.
pub fn layer<S>(
    scrubber: Scrubber,
) -> Result<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>, String>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let protocol = match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
        Ok("http/json") => Protocol::HttpJson,
        _ => Protocol::HttpBinary,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot set up the OTLP exporter: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(Scrubbing {
            inner: exporter,
            scrubber,
        })
        .with_resource(Resource::builder().with_service_name("aw-run").build())
        .build();
    let tracer = provider.tracer("aw-run");
    let _ = PROVIDER.set(provider);
    Ok(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Sends what is still buffered; called once before `aw-run` exits.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(e) = provider.shutdown() {
            eprintln!("aw-run: exporting traces failed: {e}");
        }
    }
}

/// An exporter that scrubs every string of a span before the wrapped exporter sees it.
#[derive(Debug)]
struct Scrubbing<E> {
    inner: E,
    scrubber: Scrubber,
}

impl<E: SpanExporter> SpanExporter for Scrubbing<E> {
    async fn export(&self, mut batch: Vec<SpanData>) -> OTelSdkResult {
        for span in &mut batch {
            scrub_span(&self.scrubber, span);
        }
        self.inner.export(batch).await
    }

    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&mut self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

fn scrub_span(scrubber: &Scrubber, span: &mut SpanData) {
    span.name = scrub_cow(scrubber, &span.name);
    scrub_attributes(scrubber, &mut span.attributes);
    for event in span.events.events.iter_mut() {
        event.name = scrub_cow(scrubber, &event.name);
        scrub_attributes(scrubber, &mut event.attributes);
    }
    if let Status::Error { description } = &span.status {
        span.status = Status::Error {
            description: scrub_cow(scrubber, description),
        };
    }
}

fn scrub_cow(scrubber: &Scrubber, text: &str) -> Cow<'static, str> {
    Cow::Owned(scrubber.scrub(text).into_owned())
}

fn scrub_attributes(scrubber: &Scrubber, attributes: &mut [KeyValue]) {
    for kv in attributes.iter_mut() {
        let scrubbed = match &kv.value {
            Value::String(s) => Some(Value::String(scrub_string(scrubber, s))),
            Value::Array(Array::String(items)) => Some(Value::Array(Array::String(
                items.iter().map(|s| scrub_string(scrubber, s)).collect(),
            ))),
            _ => None,
        };
        if let Some(value) = scrubbed {
            kv.value = value;
        }
    }
}

fn scrub_string(scrubber: &Scrubber, s: &StringValue) -> StringValue {
    StringValue::from(scrubber.scrub(s.as_str()).into_owned())
}
