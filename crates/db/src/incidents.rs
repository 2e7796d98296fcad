//! Incidents, the alerts linked to them, and the reads the API serves.

use aurora_domain::{ActiveTab, IncidentStatus, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::schema::{incident_alerts, incidents};
use crate::{QueryResult, time};

/// A row of `incidents`, serialized with its column names as the API's JSON.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = incidents)]
#[expect(
    missing_docs,
    reason = "the fields are the columns documented in DESIGN.md"
)]
pub struct Incident {
    pub id: Uuid,
    pub user_id: String,
    pub source_type: String,
    pub source_alert_id: i32,
    pub status: String,
    pub severity: Option<String>,
    pub alert_title: Option<String>,
    pub alert_service: Option<String>,
    pub alert_environment: Option<String>,
    pub aurora_status: Option<String>,
    pub aurora_summary: Option<String>,
    pub aurora_chat_session_id: Option<Uuid>,
    #[serde(serialize_with = "time::serialize")]
    pub started_at: NaiveDateTime,
    #[serde(serialize_with = "time::serialize_opt")]
    pub analyzed_at: Option<NaiveDateTime>,
    pub slack_message_ts: Option<String>,
    pub slack_channel: Option<String>,
    pub active_tab: Option<String>,
    #[serde(serialize_with = "time::serialize_opt")]
    pub created_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "time::serialize_opt")]
    pub updated_at: Option<NaiveDateTime>,
    pub merged_into_incident_id: Option<Uuid>,
    pub correlated_alert_count: i32,
    pub affected_services: Vec<String>,
    #[serde(serialize_with = "time::serialize_opt")]
    pub resolved_at: Option<NaiveDateTime>,
}

/// A row of `incident_alerts`: why an alert belongs to an incident.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = incident_alerts)]
pub struct IncidentAlert {
    /// Row id.
    pub id: i64,
    /// The incident.
    pub incident_id: Uuid,
    /// The alert.
    pub alert_id: i32,
    /// `primary` for the alert that opened the incident, else the correlation strategy.
    pub strategy: String,
    /// The correlation score in [0, 1].
    pub score: f32,
    /// The reason in words a person can check.
    pub reason: String,
    /// When it was attached.
    #[serde(serialize_with = "time::serialize")]
    pub attached_at: NaiveDateTime,
}

/// One incident by id, whoever owns it (workers, not the API).
pub async fn get(conn: &mut AsyncPgConnection, incident_id: Uuid) -> QueryResult<Incident> {
    incidents::table
        .find(incident_id)
        .select(Incident::as_select())
        .first(conn)
        .await
}

/// The incidents among `ids` that exist, whoever owns them (workers, not the API).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<Incident>> {
    incidents::table
        .filter(incidents::id.eq_any(ids))
        .select(Incident::as_select())
        .load(conn)
        .await
}

/// One incident of a user; `None` for an unknown id and for another user's incident alike.
pub async fn find_for_user(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    incident_id: Uuid,
) -> QueryResult<Option<Incident>> {
    incidents::table
        .filter(incidents::id.eq(incident_id))
        .filter(incidents::user_id.eq(user_id.as_str()))
        .select(Incident::as_select())
        .first(conn)
        .await
        .optional()
}

/// A user's newest incidents, at most `limit`.
pub async fn list_for_user(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    limit: i64,
) -> QueryResult<Vec<Incident>> {
    incidents::table
        .filter(incidents::user_id.eq(user_id.as_str()))
        .order((incidents::created_at.desc(), incidents::id.desc()))
        .limit(limit)
        .select(Incident::as_select())
        .load(conn)
        .await
}

/// Why each alert belongs to an incident, in the order they were attached.
pub async fn links(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
) -> QueryResult<Vec<IncidentAlert>> {
    incident_alerts::table
        .filter(incident_alerts::incident_id.eq(incident_id))
        .order(incident_alerts::id.asc())
        .select(IncidentAlert::as_select())
        .load(conn)
        .await
}

/// Moves an incident to `next` if its current status allows it (checked in
/// [`IncidentStatus::can_become`] and again in the update, so a concurrent change is not
/// overwritten). `None` when the transition is not allowed.
pub async fn transition(
    conn: &mut AsyncPgConnection,
    incident: &Incident,
    next: IncidentStatus,
    now: NaiveDateTime,
) -> QueryResult<Option<Incident>> {
    let Ok(current) = incident.status.parse::<IncidentStatus>() else {
        return Ok(None);
    };
    if !current.can_become(next) {
        return Ok(None);
    }
    let resolved_at = match next {
        IncidentStatus::Resolved => Some(now),
        IncidentStatus::Merged => incident.resolved_at,
        IncidentStatus::Investigating | IncidentStatus::Analyzed => None,
    };
    diesel::update(incidents::table.find(incident.id))
        .filter(incidents::status.eq(current.as_str()))
        .set((
            incidents::status.eq(next.as_str()),
            incidents::resolved_at.eq(resolved_at),
            incidents::updated_at.eq(now),
        ))
        .returning(Incident::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Changes what a person (`editor`) may edit besides the status: the open tab and the
/// summary. A summary written here is kept over any analysis completing later.
pub async fn edit(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
    active_tab: Option<ActiveTab>,
    aurora_summary: Option<&str>,
    editor: &str,
    now: NaiveDateTime,
) -> QueryResult<Incident> {
    // Only the columns given are written: a read-modify-write would put back a summary an
    // analysis completed in between.
    diesel::update(incidents::table.find(incident_id))
        .set((
            active_tab.map(|tab| incidents::active_tab.eq(tab.as_str())),
            aurora_summary.map(|summary| incidents::aurora_summary.eq(summary)),
            aurora_summary.map(|_| incidents::aurora_summary_edited_by.eq(editor)),
            incidents::updated_at.eq(now),
        ))
        .returning(Incident::as_returning())
        .get_result(conn)
        .await
}

/// The user's resolved incidents on the same service or with the same title, newest first:
/// what happened last time, for the analysis.
pub async fn similar_resolved(
    conn: &mut AsyncPgConnection,
    incident: &Incident,
    limit: i64,
) -> QueryResult<Vec<Incident>> {
    let same_service =
        incidents::alert_service.eq(incident.alert_service.clone().unwrap_or_default());
    let same_title = incidents::alert_title.eq(incident.alert_title.clone().unwrap_or_default());
    incidents::table
        .filter(incidents::user_id.eq(&incident.user_id))
        .filter(incidents::status.eq(IncidentStatus::Resolved.as_str()))
        .filter(incidents::id.ne(incident.id))
        .filter(same_service.or(same_title))
        .order(incidents::created_at.desc())
        .limit(limit)
        .select(Incident::as_select())
        .load(conn)
        .await
}
