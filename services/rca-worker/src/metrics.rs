//! What the RCA worker counts: analyses by analyst and outcome, how long each took, and (with
//! the command runner's own counter) diagnostic commands by outcome.

use std::time::Duration;

use aurora_runtime::metrics::register;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::InvestigationOutcome;

/// The worker's series.
#[derive(Clone)]
pub(crate) struct RcaMetrics {
    analyses: IntCounterVec,
    duration: HistogramVec,
}

impl RcaMetrics {
    /// Unregistered series (an investigator nobody scrapes counts into these).
    pub(crate) fn new() -> Self {
        Self {
            analyses: IntCounterVec::new(
                Opts::new(
                    "aurora_rca_analyses_total",
                    "Analysis attempts by analyst (builtin, llm) and outcome",
                ),
                &["analyst", "outcome"],
            )
            .expect("a valid counter"),
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "aurora_rca_duration_seconds",
                    "Analysis attempts' wall time by analyst and outcome, in seconds",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    120.0, 300.0,
                ]),
                &["analyst", "outcome"],
            )
            .expect("a valid histogram"),
        }
    }

    /// Registers the series, and `commands` (the runner's counter), in `registry`.
    pub(crate) fn register(&self, registry: &Registry, commands: &IntCounterVec) {
        register(registry, self.analyses.clone());
        register(registry, self.duration.clone());
        register(registry, commands.clone());
    }

    /// Counts one attempt that ended in `outcome` (`Err`: it failed) after `took`.
    pub(crate) fn attempted<E>(
        &self,
        analyst: &str,
        outcome: &Result<InvestigationOutcome, E>,
        took: Duration,
    ) {
        let outcome = match outcome {
            Ok(InvestigationOutcome::Completed) => "completed",
            Ok(InvestigationOutcome::AlreadyClaimed) => "already_claimed",
            Ok(InvestigationOutcome::Waiting) => "waiting",
            Ok(InvestigationOutcome::Stopped) => "stopped",
            Err(_) => "failed",
        };
        self.analyses.with_label_values(&[analyst, outcome]).inc();
        self.duration
            .with_label_values(&[analyst, outcome])
            .observe(took.as_secs_f64());
    }
}
