//! One webhook is one trace: the ingress' span, the correlator's publish of the incident it
//! opened, and the RCA worker's analysis share a trace id (W3C trace context in the NATS
//! headers). Spans are collected by an in-memory exporter.

use std::time::Duration;

use aurora_domain::SourceType;
use aurora_e2e::http::{example, post_webhook};
use aurora_e2e::{Stack, eventually};
use opentelemetry::trace::{TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use reqwest::StatusCode;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const DEADLINE: Duration = Duration::from_secs(30);

fn traces_of(spans: &[SpanData], name: &str) -> Vec<TraceId> {
    spans
        .iter()
        .filter(|span| span.name == name)
        .map(|span| span.span_context.trace_id())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_webhook_is_one_trace_from_the_ingress_to_the_analysis() {
    // This test binary's process: every service of the stack reports here.
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("e2e")))
        .init();

    let stack = Stack::start().await;
    let owner = stack.user("owner").await;
    let token = stack.integration(&owner, SourceType::Grafana, &[]).await;
    let (status, _) = post_webhook(
        &stack.webhook_url(SourceType::Grafana),
        Some(&token),
        &example("grafana_unified_checkout_critical.json"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let spans = eventually("the analysis' span", DEADLINE, || async {
        let spans = exporter.get_finished_spans().unwrap();
        (!traces_of(&spans, "rca.investigate").is_empty()).then_some(spans)
    })
    .await;
    let webhook = traces_of(&spans, "ingress.webhook");
    assert_eq!(webhook.len(), 1, "one webhook, one ingress span");
    let trace = webhook[0];
    assert!(
        traces_of(&spans, "correlator.publish").contains(&trace),
        "the correlator published the new incident within the webhook's trace"
    );
    assert_eq!(
        traces_of(&spans, "rca.investigate"),
        [trace],
        "the analysis ran within the webhook's trace"
    );
}
