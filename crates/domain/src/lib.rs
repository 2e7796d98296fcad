//! Plain types of Aurora's domain, with no I/O.
//!
//! Every value here is built through `parse`/`TryFrom`, so a value that exists is valid:
//! a [`Fingerprint`] is never empty, a [`Severity`] is always one of the six levels.
//! Other crates move these types across HTTP, NATS and PostgreSQL; this crate only says
//! what they are.

mod alert;
mod enums;
mod events;
mod ids;

pub use alert::{DeploymentEvent, Fingerprint, FingerprintError, Normalized, NormalizedAlert};
pub use enums::{
    ActiveTab, AlertStatus, AuroraStatus, DeploymentResult, IncidentStatus, ParseEnumError,
    Severity, SourceType,
};
pub use events::{
    AlertBatch, IncidentChange, IncidentChanged, IncidentCreated, IntegrationChanged,
};
pub use ids::{UserId, UserIdError};
