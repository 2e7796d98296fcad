//! What the notifier counts: deliveries by destination kind and outcome, and how long each
//! send took.

use std::time::Duration;

use aurora_runtime::metrics::register;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// The notifier's series.
#[derive(Clone)]
pub(crate) struct NotifierMetrics {
    deliveries: IntCounterVec,
    duration: HistogramVec,
}

impl NotifierMetrics {
    /// The series, registered in `registry`.
    pub(crate) fn new(registry: &Registry) -> Self {
        let deliveries = IntCounterVec::new(
            Opts::new(
                "aurora_notifier_deliveries_total",
                "Notification attempts by destination (slack, pagerduty, webhook) and outcome (delivered, retried, failed, skipped)",
            ),
            &["destination", "outcome"],
        )
        .expect("a valid counter");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "aurora_notifier_delivery_duration_seconds",
                "Notification attempts' wall time by destination, in seconds",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["destination"],
        )
        .expect("a valid histogram");
        Self {
            deliveries: register(registry, deliveries),
            duration: register(registry, duration),
        }
    }

    /// Counts one attempt at `destination` that ended in `outcome` after `took`.
    pub(crate) fn attempted(&self, destination: &str, outcome: &str, took: Duration) {
        self.deliveries
            .with_label_values(&[destination, outcome])
            .inc();
        self.duration
            .with_label_values(&[destination])
            .observe(took.as_secs_f64());
    }
}
