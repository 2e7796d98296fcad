//! The correlator: turns accepted alert deliveries into stored alerts and incidents.
//!
//! The decisions themselves (dedup, order, lifecycle, correlation) are
//! [`aurora_correlation`]'s, with no I/O; this service feeds them and carries them out.
//!
//! - [`consumer`]: the durable pull consumer on `ALERTS`: batches off the stream, grouped by
//!   user, and the service's run loop.
//! - [`process`]: one user's deliveries, decided and stored in one transaction.
//! - [`publish`]: the incident events of a committed transaction, out on the bus.
//! - [`auto_resolve`]: alerts of sources that never send resolves time out.
//! - [`silences`]: the alerts an ended silence kept quiet are released.
//! - [`heartbeats`]: an alert of Aurora's own while an integration's heartbeat is overdue.
//! - [`retention`]: what is older than the retention settings is deleted in small batches.
//! - [`outbox`]: incident events their writers recorded but did not publish, published.

pub mod auto_resolve;
pub mod consumer;
pub mod heartbeats;
mod metrics;
pub mod outbox;
pub mod process;
mod publish;
pub mod retention;
pub mod silences;
mod sweep;

pub use aurora_correlation::Rules;
pub use consumer::{batching, run, serve};
pub use process::{Correlator, DeliveryOutcome};
