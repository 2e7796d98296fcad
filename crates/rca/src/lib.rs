//! Root-cause analysis that needs no network and no configuration: the built-in analyst.
//!
//! The worker gathers an [`IncidentContext`] (the alert, the alerts correlated with it, recent
//! deployments of its service and dependencies, similar past incidents); [`analyse`] matches it
//! against a [`KnowledgeBase`] of failure patterns (`knowledge.toml`, extendable with users'
//! files) by words, not substrings, reads the causes the alerts' descriptions state, weighs
//! what the metrics showed when the worker queried them, and the deployment timeline, and
//! answers ranked hypotheses with the evidence for each,
//! suggestions with their risk, and a Markdown summary. It says "unknown" when nothing matches.
//! Pure code: no I/O, so an analysis takes milliseconds and is tested on plain values.

mod analyse;
mod context;
mod facts;
mod findings;
mod knowledge;
mod matching;
mod signals;
mod stated;
mod summary;
mod words;

pub use analyse::{Analysis, Basis, Hypothesis, Suggestion, analyse};
pub use context::{
    AlertContext, CommandEvidence, DeploymentContext, IncidentContext, PastIncident,
};
pub use knowledge::{KnowledgeBase, KnowledgeError, Pattern, Risk, Term};
pub use signals::{MetricEvidence, Movement, Reading, Signal, Support, read};
