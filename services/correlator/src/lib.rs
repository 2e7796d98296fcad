//! The correlator: turns accepted alert deliveries into stored alerts and incidents.
//!
//! - [`consumer`]: the durable pull consumer on `ALERTS` and the service's run loop.
//! - [`process`]: one delivery, in one transaction, then its events, then the ack.
//! - [`dedup`]: a repeat or a resolve of an alert that is already open.
//! - [`open_incident`]: a new problem becomes an incident.

pub mod consumer;
pub mod dedup;
pub mod open_incident;
pub mod process;

pub use consumer::{run, serve};
pub use process::{Correlator, DeliveryOutcome};
