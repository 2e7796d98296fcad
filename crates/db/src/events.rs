//! The incident timeline: what happened to an incident, in order. It is also the outbox of
//! incident changes: each event is recorded in the transaction that makes the change and
//! marked `published` once it is on the INCIDENTS stream ([`unpublished`], [`mark_published`]).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::schema::{incident_events, incidents};
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

/// An event not yet on the bus, with the owner its message names.
#[derive(Debug, Clone)]
pub struct Unpublished {
    /// The event.
    pub event: IncidentEvent,
    /// The incident's owner.
    pub user_id: String,
}

/// Events recorded before `recorded_before` and not yet marked published, oldest first, at
/// most `limit`; locked for the rest of the transaction, skipping rows another relay holds.
pub async fn unpublished(
    conn: &mut AsyncPgConnection,
    recorded_before: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Unpublished>> {
    let events: Vec<IncidentEvent> = incident_events::table
        .filter(incident_events::published.eq(false))
        .filter(incident_events::created_at.lt(recorded_before))
        .order(incident_events::id.asc())
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(IncidentEvent::as_select())
        .load(conn)
        .await?;
    let incident_ids: Vec<Uuid> = events.iter().map(|e| e.incident_id).collect();
    let owners: std::collections::HashMap<Uuid, String> = incidents::table
        .filter(incidents::id.eq_any(&incident_ids))
        .select((incidents::id, incidents::user_id))
        .load(conn)
        .await?
        .into_iter()
        .collect();
    Ok(events
        .into_iter()
        .filter_map(|event| {
            let user_id = owners.get(&event.incident_id)?.clone();
            Some(Unpublished { event, user_id })
        })
        .collect())
}

/// Marks events as on the bus.
pub async fn mark_published(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::update(incident_events::table.filter(incident_events::id.eq_any(ids)))
        .set(incident_events::published.eq(true))
        .execute(conn)
        .await
        .map(drop)
}
