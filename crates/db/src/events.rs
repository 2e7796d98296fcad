//! The incident timeline: what happened to an incident, in order.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::schema::incident_events;
use crate::{QueryResult, time};

/// A row of `incident_events`.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = incident_events)]
pub struct IncidentEvent {
    /// Order of events.
    pub id: i64,
    /// The incident.
    pub incident_id: Uuid,
    /// What happened (`created`, `correlated`, `alert_resolved`, `analysis_completed` …).
    pub kind: String,
    /// Facts of the event.
    pub detail: serde_json::Value,
    /// When.
    #[serde(serialize_with = "time::serialize")]
    pub created_at: NaiveDateTime,
}

/// Appends an event to an incident's timeline.
pub async fn record(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    kind: &str,
    detail: serde_json::Value,
) -> QueryResult<IncidentEvent> {
    diesel::insert_into(incident_events::table)
        .values((
            incident_events::incident_id.eq(incident_id),
            incident_events::kind.eq(kind),
            incident_events::detail.eq(detail),
            incident_events::created_at.eq(time::now()),
        ))
        .returning(IncidentEvent::as_returning())
        .get_result(conn)
        .await
}

/// Events by id, in id order (to republish what a delivery recorded).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<Vec<IncidentEvent>> {
    incident_events::table
        .filter(incident_events::id.eq_any(ids))
        .order(incident_events::id.asc())
        .select(IncidentEvent::as_select())
        .load(conn)
        .await
}

/// An incident's timeline, oldest first.
pub async fn for_incident(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
) -> QueryResult<Vec<IncidentEvent>> {
    incident_events::table
        .filter(incident_events::incident_id.eq(incident_id))
        .order(incident_events::id.asc())
        .select(IncidentEvent::as_select())
        .load(conn)
        .await
}
