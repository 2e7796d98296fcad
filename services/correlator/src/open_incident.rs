//! A firing alert that matches nothing open becomes a new incident.

use aurora_db::alerts::Alert;
use aurora_db::incidents::{self, Incident};
use aurora_db::{AsyncPgConnection, QueryResult, events};
use chrono::NaiveDateTime;

/// Opens the incident for a newly stored firing alert: `investigating`, analysis `idle`,
/// tab `thoughts`, started when the alert started, with the alert linked as primary and a
/// `created` event on its timeline.
pub async fn open(
    conn: &mut AsyncPgConnection,
    alert: &Alert,
    now: NaiveDateTime,
) -> QueryResult<Incident> {
    let incident = incidents::open_for_alert(conn, alert, now).await?;
    let detail = serde_json::json!({
        "alert_id": alert.id,
        "source_type": alert.source_type,
        "title": alert.title,
    });
    events::record(conn, incident.id, "created", detail).await?;
    Ok(incident)
}
