//! The RCA worker: investigates each new incident exactly once.
//!
//! - [`consumer`]: the durable pull consumer on `incidents.created` and the run loop.
//! - [`investigation`]: claim, chat session, thoughts as they are written, summary, complete.
//! - [`alert_facts`]: what the opening alert itself establishes, in sentences.

pub mod alert_facts;
pub mod consumer;
pub mod investigation;

pub use consumer::{run, serve};
pub use investigation::{InvestigationOutcome, Investigator};
