//! The RCA worker: investigates each new incident exactly once.
//!
//! - [`consumer`]: the durable pull consumer on `incidents.created` and the run loop.
//! - [`investigation`]: claim, chat session, thoughts as they are written, suggestions,
//!   summary, analyzed; `outcome` writes how an attempt ended.
//! - [`context`]: what the analyst is given, gathered from PostgreSQL.
//! - [`lease`]: the claim's lease, renewed while the analysis runs; an attempt that lost it
//!   stops.
//! - [`expiry`]: the sweeps that stop analyses past their budget and take over those whose
//!   worker died.
//! - [`commands`], [`llm`]: runbook commands, and the language-model analyst.
//! - [`signals`]: evidence from Prometheus around the alert, when one is configured.
//!
//! The analysis itself is the built-in analyst of `aurora-rca`.

pub mod commands;
pub mod consumer;
pub mod context;
pub mod expiry;
pub mod investigation;
pub mod lease;
pub mod llm;
mod metrics;
mod outcome;
pub mod signals;

pub use consumer::{run, serve};
pub use investigation::{Analyst, InvestigationOutcome, Investigator};
