//! How incidents resolve, reopen and recur.
//!
//! - An incident resolves when its alerts resolve, per `correlation.resolve_policy`.
//! - A resolved alert firing again within the flap window reopens its incident.
//! - Later, it opens a new incident, linked to the earlier one on both timelines.

use aurora_db::alerts::{self, Alert};
use aurora_db::incidents::{self, Incident};
use aurora_db::{AsyncPgConnection, QueryResult, events};
use aurora_domain::{IncidentStatus, NormalizedAlert, UserId};
use aurora_settings::ResolvePolicy;
use chrono::{NaiveDateTime, TimeDelta};
use uuid::Uuid;

/// After one of its alerts resolved, resolves the incident if the policy says so; answers the
/// `resolved` event to publish.
pub async fn after_alert_resolved(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    policy: ResolvePolicy,
    now: NaiveDateTime,
) -> QueryResult<Option<i64>> {
    let resolve = match policy {
        ResolvePolicy::Never => false,
        ResolvePolicy::First => true,
        ResolvePolicy::All => alerts::firing_count(conn, incident_id).await? == 0,
    };
    if !resolve {
        return Ok(None);
    }
    let incident = incidents::get(conn, incident_id).await?;
    let Some(resolved) =
        incidents::transition(conn, &incident, IncidentStatus::Resolved, now).await?
    else {
        return Ok(None); // already resolved or merged
    };
    let event = events::record(
        conn,
        resolved.id,
        "resolved",
        serde_json::json!({ "policy": format!("{policy:?}").to_lowercase() }),
    )
    .await?;
    Ok(Some(event.id))
}

/// What a firing alert that matches nothing open was before.
#[derive(Debug)]
pub enum History {
    /// Never seen, or its incident was merged away.
    New,
    /// Resolved within the flap window: it fires again in its own incident.
    Flap {
        /// The resolved alert.
        alert: Box<Alert>,
        /// Its incident.
        incident: Box<Incident>,
    },
    /// Resolved longer ago, with its incident closed: a recurrence.
    Recurrence {
        /// The earlier incident.
        earlier: Uuid,
    },
}

/// Looks up the alert's latest resolved self.
pub async fn history(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    alert: &NormalizedAlert,
    flap_window: TimeDelta,
    now: NaiveDateTime,
) -> QueryResult<History> {
    let Some(previous) = alerts::latest_resolved(conn, user_id, alert).await? else {
        return Ok(History::New);
    };
    let Some(incident_id) = previous.incident_id else {
        return Ok(History::New);
    };
    let incident = incidents::get(conn, incident_id).await?;
    if incident.status == IncidentStatus::Merged.as_str() {
        return Ok(History::New);
    }
    let within_flap = previous
        .resolved_at
        .is_some_and(|at| now - at <= flap_window);
    Ok(if within_flap {
        History::Flap {
            alert: Box::new(previous),
            incident: Box::new(incident),
        }
    } else if incident.status == IncidentStatus::Resolved.as_str() {
        History::Recurrence {
            earlier: incident.id,
        }
    } else {
        History::New
    })
}

/// A flap: the alert fires again and its incident reopens if it had resolved. Answers the
/// alert and the `reopened` event to publish, if the incident reopened.
pub async fn refire(
    conn: &mut AsyncPgConnection,
    alert: &Alert,
    incident: &Incident,
    now: NaiveDateTime,
) -> QueryResult<(Alert, Option<i64>)> {
    let alert = alerts::refire(conn, alert.id, now).await?;
    let reopened =
        incidents::transition(conn, incident, IncidentStatus::Investigating, now).await?;
    let detail = serde_json::json!({ "alert_id": alert.id, "fingerprint": alert.fingerprint });
    let event = match reopened {
        Some(_) => Some(
            events::record(conn, incident.id, "reopened", detail)
                .await?
                .id,
        ),
        None => {
            events::record(conn, incident.id, "alert_refired", detail).await?;
            None
        }
    };
    Ok((alert, event))
}

/// Links a new incident and the earlier one its alert opened, on both timelines.
pub async fn link_recurrence(
    conn: &mut AsyncPgConnection,
    earlier: Uuid,
    new: &Incident,
) -> QueryResult<()> {
    events::record(
        conn,
        new.id,
        "recurrence_of",
        serde_json::json!({ "incident_id": earlier }),
    )
    .await?;
    events::record(
        conn,
        earlier,
        "recurred_as",
        serde_json::json!({ "incident_id": new.id }),
    )
    .await?;
    Ok(())
}
