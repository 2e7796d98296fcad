//! Logs and traces for every service: `tracing` with an OpenTelemetry layer.
//!
//! Logs go to stderr as text or JSON. When an OTLP endpoint is configured, spans are exported
//! over OTLP/HTTP; the W3C propagator is installed either way, so trace context crosses HTTP
//! and NATS even when this process exports nothing.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flushes exported spans when dropped; keep it alive for the life of `main`.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Best effort at exit: an unreachable collector must not block shutdown.
            let _ = provider.shutdown();
        }
    }
}

/// Telemetry that could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start telemetry: {0}")]
pub struct TelemetryError(String);

/// Installs the global subscriber for a service. `filter` is used unless `RUST_LOG` is set.
pub fn init(
    service: &'static str,
    format: Format,
    filter: &str,
    otlp_endpoint: Option<&str>,
) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .map_err(|err| TelemetryError(format!("log filter: {err}")))?;
    let fmt_layer = match format {
        // Colours only on a terminal: in a file or a container log they are noise to read
        // and work to write.
        Format::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
        Format::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let provider = otlp_endpoint
        .map(|endpoint| build_provider(service, endpoint))
        .transpose()?;
    let otel_layer = provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(service)));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
        .map_err(|err| TelemetryError(err.to_string()))?;
    Ok(TelemetryGuard { provider })
}

fn build_provider(
    service: &'static str,
    endpoint: &str,
) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()
        .map_err(|err| TelemetryError(format!("OTLP exporter: {err}")))?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service)
                .build(),
        )
        .build())
}
