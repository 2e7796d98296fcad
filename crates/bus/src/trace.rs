//! W3C trace context in NATS headers, so one trace runs from the webhook to the analysis.

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

/// Writes the current span's context into outgoing headers.
pub fn inject_current(headers: &mut HeaderMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}

/// Links `span` to the context carried in incoming headers, if any: for work done on many
/// messages at once, each of which belongs to a trace of its own.
pub fn link_from(headers: Option<&HeaderMap>, span: &tracing::Span) {
    let Some(headers) = headers else { return };
    let linked = extract(headers).span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

/// Makes `span` a child of the context carried in incoming headers, if any.
pub fn continue_from(headers: Option<&HeaderMap>, span: &tracing::Span) {
    let Some(headers) = headers else { return };
    // Fails only when the span is disabled; then there is nothing to link.
    let _ = span.set_parent(extract(headers));
}

/// Makes `span` a child of `context` (a delivery's sender's), so what it publishes continues
/// that trace.
pub fn continue_context(context: &opentelemetry::Context, span: &tracing::Span) {
    // Fails only when the span is disabled; then there is nothing to continue.
    let _ = span.set_parent(context.clone());
}

/// The trace context a message's headers carry (an empty one when they carry none).
pub(crate) fn context_of(headers: Option<&HeaderMap>) -> opentelemetry::Context {
    headers.map_or_else(opentelemetry::Context::new, extract)
}

/// The trace context `headers` carry (an empty one when they carry none).
fn extract(headers: &HeaderMap) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    })
}
