//! The correlator: turns accepted alert deliveries into stored alerts and incidents.
//!
//! - [`consumer`]: the durable pull consumer on `ALERTS` and the service's run loop.
//! - [`process`]: one delivery, in one transaction, then its events, then the ack.
//! - [`dedup`]: a repeat or a resolve of an alert that is already open.
//! - [`correlate`]: does a new alert belong to an open incident? ([`scoring`] has the
//!   strategies, [`dependency_graph`] the service topology).
//! - [`lifecycle`]: incidents resolve, reopen on a flap, and recur.
//! - [`open_incident`]: a new problem becomes an incident.
//! - [`auto_resolve`]: alerts of sources that never send resolves time out.

pub mod auto_resolve;
pub mod consumer;
pub mod correlate;
pub mod dedup;
pub mod dependency_graph;
pub mod lifecycle;
pub mod open_incident;
pub mod process;
pub mod scoring;

pub use consumer::{run, serve};
pub use process::{Correlator, DeliveryOutcome};
pub use scoring::Rules;
