//! What the correlator counts: each decision by outcome (and, for a correlation, by the
//! strategy that carried it), the incidents it opens and resolves, and the alerts it processes
//! by source and outcome (the alert-to-incident compression ratio is processed over opened,
//! per source too: `outcome="opened"`). Per service only the API counts: services are too many
//! for series.

use aurora_correlation::{Arrival, EventDetail, Plan};
use aurora_runtime::metrics::register;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// The correlator's series.
#[derive(Clone)]
pub struct CorrelationMetrics {
    decisions: IntCounterVec,
    opened: IntCounter,
    resolved: IntCounter,
    processed: IntCounterVec,
}

impl CorrelationMetrics {
    /// The series, registered in `registry` when one is given (tests that build a correlator
    /// of their own count into series nobody scrapes).
    pub fn new(registry: Option<&Registry>) -> Self {
        let metrics = Self {
            decisions: IntCounterVec::new(
                Opts::new(
                    "aurora_correlation_decisions_total",
                    "Correlation decisions by outcome and, for a correlation, strategy",
                ),
                &["outcome", "strategy"],
            )
            .expect("a valid counter"),
            opened: IntCounter::new("aurora_incidents_opened_total", "Incidents opened")
                .expect("a valid counter"),
            resolved: IntCounter::new("aurora_incidents_resolved_total", "Incidents resolved")
                .expect("a valid counter"),
            processed: IntCounterVec::new(
                Opts::new(
                    "aurora_alerts_processed_total",
                    "Alert notifications the correlator decided on, by source and by what became \
                     of them (opened, correlated, deduplicated, suppressed, resolved, refired)",
                ),
                &["source", "outcome"],
            )
            .expect("a valid counter"),
        };
        if let Some(registry) = registry {
            register(registry, metrics.decisions.clone());
            register(registry, metrics.opened.clone());
            register(registry, metrics.resolved.clone());
            register(registry, metrics.processed.clone());
        }
        metrics
    }

    /// Counts what a committed plan decided for `arrivals`.
    pub(crate) fn record(&self, arrivals: &[Arrival<'_>], plan: &Plan) {
        for processed in &plan.processed {
            let source = arrivals[processed.arrival].batch.alerts[processed.alert_index]
                .source_type
                .as_str();
            self.processed
                .with_label_values(&[source, processed.outcome.as_str()])
                .inc();
        }
        let repeats: i64 = plan
            .alert_updates
            .iter()
            .map(|update| i64::from(update.added_occurrences))
            .chain(
                plan.new_alerts
                    .iter()
                    .map(|new| i64::from(new.occurrence_count - 1)),
            )
            .sum();
        self.decide("deduplicated", "none", repeats.max(0) as u64);
        let suppressed: i64 = plan.suppressed.iter().map(|(_, count)| count).sum();
        self.decide("suppressed", "none", suppressed.max(0) as u64);
        for event in &plan.events {
            match &event.detail {
                EventDetail::Created { .. } => {
                    self.decide("opened", "none", 1);
                    self.opened.inc();
                }
                EventDetail::Correlated { strategy, .. } => self.decide("correlated", strategy, 1),
                EventDetail::AlertResolved { .. } | EventDetail::AutoResolved { .. } => {
                    self.decide("resolved", "none", 1);
                }
                EventDetail::Resolved { .. } => self.resolved.inc(),
                EventDetail::Reopened { .. } => self.decide("reopened", "none", 1),
                EventDetail::AlertRefired { .. }
                | EventDetail::SeverityChanged { .. }
                | EventDetail::RecurrenceOf { .. }
                | EventDetail::RecurredAs { .. } => {}
            }
        }
    }

    fn decide(&self, outcome: &str, strategy: &str, count: u64) {
        if count > 0 {
            self.decisions
                .with_label_values(&[outcome, strategy])
                .inc_by(count);
        }
    }
}
