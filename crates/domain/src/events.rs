//! Messages on the bus. Their JSON Schemas in `proto/` are generated from these types and a test
//! fails when the two drift apart.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{DeploymentEvent, NormalizedAlert, SourceType, UserId};

/// One accepted webhook delivery, published on `alerts.<source_type>` by the ingress after
/// authentication and normalization.
///
/// A delivery is one message however many alerts it holds, so JetStream takes it whole or not
/// at all and the sender's retry cannot half-duplicate a group.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AlertBatch {
    /// Identifies this delivery: the vendor's delivery id when it sends one, else one minted
    /// per request. With `user_id` it is the `Nats-Msg-Id` and the correlator's idempotency key.
    pub delivery_id: String,
    /// The owner, decided by the integration token.
    pub user_id: UserId,
    /// The integration that authenticated the delivery.
    pub integration_id: Uuid,
    /// The vendor (also the subject suffix).
    pub source_type: SourceType,
    /// When the ingress received the request.
    pub received_at: DateTime<Utc>,
    /// The normalized alerts, in the body's order.
    pub alerts: Vec<NormalizedAlert>,
    /// The deployment the body reported, from CI systems.
    #[serde(default)]
    pub deployment: Option<DeploymentEvent>,
    /// The body as the vendor sent it, kept with every alert row. Carried as the JSON text
    /// itself: nothing between the vendor and the database needs to look inside it.
    pub raw_payload: Box<serde_json::value::RawValue>,
}

impl AlertBatch {
    /// The `Nats-Msg-Id` of this delivery: JetStream drops a second publish with the same id
    /// inside the stream's duplicate window.
    pub fn message_id(&self) -> String {
        format!("alert:{}:{}", self.user_id, self.delivery_id)
    }
}

/// A new incident was committed; published on `incidents.created` by the correlator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentCreated {
    /// The new incident.
    pub incident_id: Uuid,
    /// Its owner.
    pub user_id: UserId,
    /// The `alerts` row that opened it.
    pub source_alert_id: i32,
    /// The vendor of that alert.
    pub source_type: SourceType,
    /// When the incident row was created.
    pub created_at: DateTime<Utc>,
}

impl IncidentCreated {
    /// The `Nats-Msg-Id`: derived from the incident, so republishing after a redelivery is
    /// dropped by JetStream instead of starting a second analysis.
    pub fn message_id(&self) -> String {
        format!("incident-created:{}", self.incident_id)
    }
}

/// What changed about an incident; also the subject it is published on
/// (`incidents.<change>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentChange {
    /// An alert was attached by correlation.
    Correlated,
    /// Status, tab or summary changed, or the incident reopened.
    Updated,
    /// The incident resolved.
    Resolved,
    /// Another incident was merged into it, or it into another.
    Merged,
    /// An analysis finished.
    Analyzed,
}

impl IncidentChange {
    /// The change an `incident_events` kind is published as; `None` for timeline-only events
    /// (`created` goes out as [`IncidentCreated`]).
    pub fn of_event_kind(kind: &str) -> Option<Self> {
        match kind {
            "correlated" => Some(IncidentChange::Correlated),
            "resolved" => Some(IncidentChange::Resolved),
            "reopened" | "status_changed" | "updated" | "severity_changed" => {
                Some(IncidentChange::Updated)
            }
            "merged" | "merged_into" => Some(IncidentChange::Merged),
            "analysis_completed" => Some(IncidentChange::Analyzed),
            _ => None,
        }
    }
}

/// An incident changed; published after the commit on `incidents.<change>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IncidentChanged {
    /// Which change.
    pub change: IncidentChange,
    /// The incident.
    pub incident_id: Uuid,
    /// Its owner (the live stream filters on it).
    pub user_id: UserId,
    /// The `incident_events` row recording the change: unique per change, so the
    /// `Nats-Msg-Id` derived from it drops a republish after a redelivery.
    pub event_id: i64,
    /// When it changed.
    pub occurred_at: DateTime<Utc>,
}

impl IncidentChanged {
    /// The `Nats-Msg-Id`.
    pub fn message_id(&self) -> String {
        format!("incident-event:{}", self.event_id)
    }
}

/// An integration changed in a way every ingress must apply at once: its token was revoked or
/// its signing secrets were replaced. Published on core NATS (`integrations.changed`) by
/// whoever made the change, after the commit; each ingress then forgets what it cached of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrationChanged {
    /// The integration.
    pub integration_id: Uuid,
}
