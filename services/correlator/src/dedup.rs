//! Dedup: an alert whose (user, source, fingerprint) is already open is the same alert.

use aurora_db::alerts::{self, Alert};
use aurora_db::{AsyncPgConnection, QueryResult, events};
use aurora_domain::{AlertStatus, NormalizedAlert, UserId};
use chrono::NaiveDateTime;

/// What dedup made of an alert.
#[derive(Debug)]
pub enum Dedup {
    /// A repeat of an open alert: counted, nothing created.
    Repeat(Alert),
    /// The resolve of an open alert.
    Resolved(Alert),
    /// Nothing open matches: a new alert.
    New,
}

/// Applies `alert` to the open alert with the same key, if there is one. Runs inside the
/// delivery's transaction, holding the row lock.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    alert: &NormalizedAlert,
    received_at: NaiveDateTime,
) -> QueryResult<Dedup> {
    let Some(open) = alerts::find_open_for_update(conn, user_id, alert).await? else {
        return Ok(Dedup::New);
    };
    let (kind, outcome) = match alert.status {
        AlertStatus::Firing => (
            "alert_repeated",
            Dedup::Repeat(alerts::record_repeat(conn, open.id, received_at).await?),
        ),
        AlertStatus::Resolved => (
            "alert_resolved",
            Dedup::Resolved(alerts::resolve(conn, open.id, received_at).await?),
        ),
    };
    if let Some(incident_id) = open.incident_id {
        let detail = serde_json::json!({ "alert_id": open.id, "fingerprint": alert.fingerprint });
        events::record(conn, incident_id, kind, detail).await?;
    }
    Ok(outcome)
}
