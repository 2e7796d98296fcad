//! What the ingress counts: webhooks received, accepted and refused (by source, and by reason),
//! the alerts they carried, and how long JetStream took to take each delivery.

use aurora_runtime::metrics::register;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};

use crate::IngressError;

/// The ingress' series, registered in the service's registry.
#[derive(Clone)]
pub struct IngressMetrics {
    registry: Registry,
    received: IntCounterVec,
    accepted: IntCounterVec,
    refused: IntCounterVec,
    alerts: IntCounterVec,
    publish: Histogram,
}

impl IngressMetrics {
    /// Registers the ingress' series in `registry`.
    pub fn new(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            register(
                registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter"),
            )
        };
        let publish = Histogram::with_opts(
            HistogramOpts::new(
                "aurora_publish_duration_seconds",
                "From publishing a delivery to JetStream's acknowledgement, in seconds",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )
        .expect("a valid histogram");
        let publish = register(registry, publish);
        Self {
            registry: registry.clone(),
            received: counter(
                "aurora_webhooks_received_total",
                "Webhook requests received",
                &["source"],
            ),
            accepted: counter(
                "aurora_webhooks_accepted_total",
                "Webhooks answered 202: on JetStream",
                &["source"],
            ),
            refused: counter(
                "aurora_webhooks_refused_total",
                "Webhooks refused, by reason",
                &["source", "reason"],
            ),
            alerts: counter(
                "aurora_alerts_accepted_total",
                "Alerts carried by accepted webhooks",
                &["source"],
            ),
            publish,
        }
    }

    /// The registry the series are in (served at `/metrics`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn received(&self, source: &str) {
        self.received.with_label_values(&[source]).inc();
    }

    pub(crate) fn accepted(&self, source: &str, alerts: usize) {
        self.accepted.with_label_values(&[source]).inc();
        self.alerts
            .with_label_values(&[source])
            .inc_by(alerts as u64);
    }

    pub(crate) fn refused(&self, source: &str, err: &IngressError) {
        self.refused
            .with_label_values(&[source, err.reason()])
            .inc();
    }

    pub(crate) fn published(&self, took: std::time::Duration) {
        self.publish.observe(took.as_secs_f64());
    }
}
