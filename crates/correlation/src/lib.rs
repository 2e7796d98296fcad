//! The correlator's decisions, with no I/O: given what PostgreSQL holds for one user and that
//! user's deliveries in the order Aurora accepted them, [`decide`] answers the rows to write
//! and the events to publish. The correlator service loads the [`State`] in a few set-based
//! queries, calls [`decide`], and writes the [`Plan`] with multi-row statements, so its cost
//! per alert is a share of a handful of statements instead of a round of its own.
//!
//! - [`state`]: what the decision reads (stored alerts by key, candidate incidents,
//!   deployments) and the [`Receipt`] order of deliveries.
//! - [`plan`]: what it answers: new and changed alerts and incidents, links, timeline events,
//!   follow-up thoughts, and what each delivery did.
//! - [`decide`]: dedup, order, lifecycle (resolve, flap, recurrence), correlation and opening,
//!   alert by alert in arrival order.
//! - [`heartbeat`]: alerts that must keep firing; their notifications are beats, not alerts.
//! - [`silence`]: maintenance windows: alerts they match open nothing until they end.
//! - [`replay`]: recorded alerts decided again with proposed rules, in memory, and the
//!   incidents compared.
//! - [`scoring`]: the correlation strategies; [`dependency_graph`]: the service topology;
//!   [`trigrams`]: title similarity.

pub mod decide;
pub mod dependency_graph;
pub mod heartbeat;
pub mod plan;
pub mod replay;
pub mod scoring;
pub mod silence;
pub mod state;
pub mod trigrams;

pub use decide::{CANDIDATE_LIMIT, auto_resolve, decide, release};
pub use heartbeat::{Heartbeat, MissingBeats};
pub use plan::{AlertRef, EventDetail, Outcome, Plan};
pub use scoring::Rules;
pub use silence::{Matcher, OnExpiry, Silence};
pub use state::{
    Arrival, FiringBySeverity, Needs, Receipt, State, StoredAlert, StoredDeployment, StoredIncident,
};
