//! What a decision answers: the rows to write and the events to publish.
//!
//! New alerts get their ids only when the plan is written (one query allocates them all), so
//! rows refer to alerts by [`AlertRef`] and timeline events carry typed details that are turned
//! into JSON once ids are known.

use aurora_domain::{AlertStatus, IncidentChange, IncidentStatus, Severity};
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::{FiringBySeverity, Receipt};

/// An alert row: one already stored, or the n-th of [`Plan::new_alerts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertRef {
    /// A stored row, by id.
    Stored(i32),
    /// A row to insert, by its index in [`Plan::new_alerts`].
    New(usize),
}

/// The mutable part of an alert row, as it ends after the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    /// Firing or resolved.
    pub status: AlertStatus,
    /// Its incident.
    pub incident_id: Option<Uuid>,
    /// When its resolve arrived.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When the latest notification arrived.
    pub last_seen_at: DateTime<Utc>,
    /// The receipt of the last delivery applied to it.
    pub receipt: Receipt,
    /// The silence that kept it quiet, if one did.
    pub suppressed_by: Option<Uuid>,
    /// Its severity, as its latest notification said: what it counts for in its incident's
    /// severity while it fires.
    pub severity: Severity,
}

/// An alert to insert. Its vendor fields are those of alert `alert_index` of arrival
/// `arrival`, and it stores that arrival's raw payload.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// Index of the delivery in the decided arrivals.
    pub arrival: usize,
    /// Index of the alert in that delivery.
    pub alert_index: usize,
    /// Its state.
    pub row: AlertRow,
    /// Firing notifications counted (1 at first).
    pub occurrence_count: i32,
}

/// A stored alert that changed.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertUpdate {
    /// Row id.
    pub id: i32,
    /// Its state now.
    pub row: AlertRow,
    /// Firing notifications to add to its count.
    pub added_occurrences: i32,
}

/// The part of an incident row the correlator changes, as it ends after the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    /// Its status.
    pub status: IncidentStatus,
    /// When it resolved (cleared when it reopens).
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Alerts attached besides the one that opened it.
    pub correlated_alert_count: i32,
    /// Its alerts still firing.
    pub firing_alerts: i32,
    /// The services its alerts come from, in order of arrival.
    pub affected_services: Vec<String>,
    /// The highest severity of its firing alerts (the last one, when none fires).
    pub severity: Severity,
    /// Its firing alerts by severity.
    pub firing_by_severity: FiringBySeverity,
}

/// An incident to insert, opened by a new alert (its title, severity, service, environment
/// and start come from that alert).
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    /// Its id, chosen here.
    pub id: Uuid,
    /// The alert that opened it (always a new one).
    pub opened_by: AlertRef,
    /// Index of the delivery holding that alert.
    pub arrival: usize,
    /// Index of the alert in that delivery.
    pub alert_index: usize,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// Its state.
    pub row: IncidentRow,
}

/// A stored incident that changed.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentUpdate {
    /// Its id.
    pub id: Uuid,
    /// Its state now.
    pub row: IncidentRow,
}

/// Why an alert belongs to an incident (`incident_alerts`).
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The incident.
    pub incident_id: Uuid,
    /// The alert.
    pub alert: AlertRef,
    /// `primary`, or the strongest correlation strategy.
    pub strategy: &'static str,
    /// The combined score.
    pub score: f32,
    /// The reason in words a person can check.
    pub reason: String,
}

/// What an entry on an incident's timeline says.
#[derive(Debug, Clone, PartialEq)]
pub enum EventDetail {
    /// The incident was opened by this alert.
    Created {
        /// The alert.
        alert: AlertRef,
        /// Its vendor.
        source_type: String,
        /// Its title.
        title: String,
    },
    /// An alert joined by correlation.
    Correlated {
        /// The alert.
        alert: AlertRef,
        /// The strongest strategy.
        strategy: &'static str,
        /// The combined score.
        score: f32,
        /// Why.
        reason: String,
    },
    /// One of its alerts resolved.
    AlertResolved {
        /// The alert.
        alert: AlertRef,
        /// Its fingerprint.
        fingerprint: String,
    },
    /// One of its alerts was silent past its source's timeout and resolved.
    AutoResolved {
        /// The alert.
        alert: AlertRef,
        /// The timeout, in seconds.
        after_secs: u64,
    },
    /// The incident resolved, per the resolve policy.
    Resolved {
        /// The policy (`all`, `first`).
        policy: &'static str,
    },
    /// A resolved alert fired again and the incident reopened.
    Reopened {
        /// The alert.
        alert: AlertRef,
        /// Its fingerprint.
        fingerprint: String,
    },
    /// A resolved alert fired again in its incident, which was still open.
    AlertRefired {
        /// The alert.
        alert: AlertRef,
        /// Its fingerprint.
        fingerprint: String,
    },
    /// Its severity followed its firing alerts: a worse one joined or fired again, or the
    /// worst resolved.
    SeverityChanged {
        /// The alert whose firing or resolve changed it.
        alert: AlertRef,
        /// The severity before.
        from: Severity,
        /// The severity now.
        to: Severity,
    },
    /// This incident is a recurrence of an earlier one.
    RecurrenceOf {
        /// The earlier incident.
        incident_id: Uuid,
    },
    /// The problem of this incident came back as a later one.
    RecurredAs {
        /// The later incident.
        incident_id: Uuid,
    },
}

impl EventDetail {
    /// The `incident_events.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            EventDetail::Created { .. } => "created",
            EventDetail::Correlated { .. } => "correlated",
            EventDetail::AlertResolved { .. } | EventDetail::AutoResolved { .. } => {
                "alert_resolved"
            }
            EventDetail::Resolved { .. } => "resolved",
            EventDetail::Reopened { .. } => "reopened",
            EventDetail::AlertRefired { .. } => "alert_refired",
            EventDetail::SeverityChanged { .. } => "severity_changed",
            EventDetail::RecurrenceOf { .. } => "recurrence_of",
            EventDetail::RecurredAs { .. } => "recurred_as",
        }
    }

    /// The change published on the bus for this event, if it is one (`created` goes out as
    /// `incidents.created`, from the new incident).
    pub fn published_change(&self) -> Option<IncidentChange> {
        IncidentChange::of_event_kind(self.kind())
    }

    /// `incident_events.detail`, with alert ids as written.
    pub fn to_json(&self, alert_id: impl Fn(AlertRef) -> i32) -> serde_json::Value {
        match self {
            EventDetail::Created {
                alert,
                source_type,
                title,
            } => {
                json!({ "alert_id": alert_id(*alert), "source_type": source_type, "title": title })
            }
            EventDetail::Correlated {
                alert,
                strategy,
                score,
                reason,
            } => json!({
                "alert_id": alert_id(*alert),
                "strategy": strategy,
                "score": score,
                "reason": reason,
            }),
            EventDetail::AlertResolved { alert, fingerprint }
            | EventDetail::Reopened { alert, fingerprint }
            | EventDetail::AlertRefired { alert, fingerprint } => {
                json!({ "alert_id": alert_id(*alert), "fingerprint": fingerprint })
            }
            EventDetail::AutoResolved { alert, after_secs } => {
                json!({ "alert_id": alert_id(*alert), "auto_resolved_after_secs": after_secs })
            }
            EventDetail::Resolved { policy } => json!({ "policy": policy }),
            EventDetail::SeverityChanged { alert, from, to } => {
                json!({ "alert_id": alert_id(*alert), "from": from, "to": to })
            }
            EventDetail::RecurrenceOf { incident_id } | EventDetail::RecurredAs { incident_id } => {
                json!({ "incident_id": incident_id })
            }
        }
    }
}

/// An entry for an incident's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The incident.
    pub incident_id: Uuid,
    /// What happened.
    pub detail: EventDetail,
}

/// A thought added to an incident's analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct Thought {
    /// The incident.
    pub incident_id: Uuid,
    /// Its kind (`follow_up`).
    pub kind: &'static str,
    /// What it says.
    pub content: String,
}

/// What became of one notification: the noise figures count these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// It opened an incident.
    Opened,
    /// A new alert that joined an open incident.
    Correlated,
    /// A repeat of an alert already open (or an older delivery of it).
    Deduplicated,
    /// A silence kept it quiet.
    Suppressed,
    /// A resolve.
    Resolved,
    /// A resolved alert firing again within the flap window, in its own incident.
    Refired,
}

impl Outcome {
    /// Every outcome, in this order.
    pub const ALL: [Outcome; 6] = [
        Outcome::Opened,
        Outcome::Correlated,
        Outcome::Deduplicated,
        Outcome::Suppressed,
        Outcome::Resolved,
        Outcome::Refired,
    ];

    /// As stored and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Opened => "opened",
            Outcome::Correlated => "correlated",
            Outcome::Deduplicated => "deduplicated",
            Outcome::Suppressed => "suppressed",
            Outcome::Resolved => "resolved",
            Outcome::Refired => "refired",
        }
    }
}

/// What one alert of one delivery did (`alert_deliveries`), so a redelivery finds it done.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    /// What became of it.
    pub outcome: Outcome,
    /// Index of the delivery in the decided arrivals.
    pub arrival: usize,
    /// Position of the alert in its delivery.
    pub alert_index: usize,
    /// The row it was stored in or counted against.
    pub alert: AlertRef,
    /// The incident it opened.
    pub opened_incident: Option<Uuid>,
    /// The published events it caused, as indexes into [`Plan::events`].
    pub events: Vec<usize>,
}

/// Everything a decision answers, to be written in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Alerts to insert.
    pub new_alerts: Vec<NewAlert>,
    /// Stored alerts that changed.
    pub alert_updates: Vec<AlertUpdate>,
    /// Incidents to insert.
    pub new_incidents: Vec<NewIncident>,
    /// Stored incidents that changed.
    pub incident_updates: Vec<IncidentUpdate>,
    /// Links of alerts to incidents.
    pub links: Vec<Link>,
    /// Timeline entries, in order.
    pub events: Vec<Event>,
    /// Follow-up thoughts.
    pub thoughts: Vec<Thought>,
    /// What each alert of each new delivery did.
    pub processed: Vec<Processed>,
    /// Arrivals (by index) whose deployment is to be stored.
    pub deployments: Vec<usize>,
    /// Arrivals (by index) that had been processed before: nothing of them is written again.
    pub already_processed: Vec<usize>,
    /// Firing notifications each silence kept quiet: (silence, count), each silence once.
    pub suppressed: Vec<(Uuid, i64)>,
    /// Beats heard: (heartbeat, when the latest arrived), each heartbeat once.
    pub beats: Vec<(Uuid, DateTime<Utc>)>,
}
