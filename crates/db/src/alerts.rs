//! Every alert received, with its raw payload; one row per open problem, repeats counted.

use aurora_domain::{AlertStatus, NormalizedAlert, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::schema::alerts;
use crate::{QueryResult, time};

/// A row of `alerts`.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = alerts)]
pub struct Alert {
    /// Integer id: it is `incidents.source_alert_id` for the alert that opened an incident.
    pub id: i32,
    /// The owner.
    pub user_id: String,
    /// The vendor.
    pub source_type: String,
    /// The vendor's key for the problem.
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// On Aurora's scale.
    pub severity: String,
    /// What fired.
    pub title: String,
    /// The affected service, when known.
    pub service: Option<String>,
    /// The environment, when known.
    pub environment: Option<String>,
    /// The vendor's labels.
    pub labels: serde_json::Value,
    /// Link back to the vendor.
    pub url: Option<String>,
    /// When the problem began.
    #[serde(serialize_with = "time::serialize")]
    pub started_at: NaiveDateTime,
    /// When Aurora first received it.
    #[serde(serialize_with = "time::serialize")]
    pub received_at: NaiveDateTime,
    /// When the latest repeat arrived.
    #[serde(serialize_with = "time::serialize")]
    pub last_seen_at: NaiveDateTime,
    /// When a resolved notification arrived.
    #[serde(serialize_with = "time::serialize_opt")]
    pub resolved_at: Option<NaiveDateTime>,
    /// How many notifications of this open problem arrived.
    pub occurrence_count: i32,
    /// The body of the first notification, as sent.
    pub raw_payload: serde_json::Value,
    /// The incident it belongs to.
    pub incident_id: Option<Uuid>,
}

/// Stores a newly seen alert.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    alert: &NormalizedAlert,
    received_at: NaiveDateTime,
    raw_payload: &serde_json::Value,
) -> QueryResult<Alert> {
    let resolved_at = (alert.status == AlertStatus::Resolved).then_some(received_at);
    let labels = serde_json::to_value(&alert.labels).expect("a string map always serializes");
    diesel::insert_into(alerts::table)
        .values((
            alerts::user_id.eq(user_id.as_str()),
            alerts::source_type.eq(alert.source_type.as_str()),
            alerts::fingerprint.eq(alert.fingerprint.as_str()),
            alerts::status.eq(alert.status.as_str()),
            alerts::severity.eq(alert.severity.as_str()),
            alerts::title.eq(&alert.title),
            alerts::service.eq(&alert.service),
            alerts::environment.eq(&alert.environment),
            alerts::labels.eq(labels),
            alerts::url.eq(&alert.url),
            alerts::started_at.eq(alert.started_at.naive_utc()),
            alerts::received_at.eq(received_at),
            alerts::last_seen_at.eq(received_at),
            alerts::resolved_at.eq(resolved_at),
            alerts::raw_payload.eq(raw_payload),
        ))
        .returning(Alert::as_returning())
        .get_result(conn)
        .await
}

/// The key dedup works on — (user, source, fingerprint) — in one status.
#[diesel::dsl::auto_type(no_type_alias)]
fn with_key<'a>(user_id: &'a str, source: &'a str, fingerprint: &'a str, status: &'a str) -> _ {
    alerts::user_id
        .eq(user_id)
        .and(alerts::source_type.eq(source))
        .and(alerts::fingerprint.eq(fingerprint))
        .and(alerts::status.eq(status))
}

/// The open (firing) alert with this key, locked for the rest of the transaction.
pub async fn find_open_for_update(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    alert: &NormalizedAlert,
) -> QueryResult<Option<Alert>> {
    alerts::table
        .filter(with_key(
            user_id.as_str(),
            alert.source_type.as_str(),
            alert.fingerprint.as_str(),
            AlertStatus::Firing.as_str(),
        ))
        .select(Alert::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Counts one more notification of an open alert.
pub async fn record_repeat(
    conn: &mut AsyncPgConnection,
    alert_id: i32,
    seen_at: NaiveDateTime,
) -> QueryResult<Alert> {
    diesel::update(alerts::table.find(alert_id))
        .set((
            alerts::occurrence_count.eq(alerts::occurrence_count + 1),
            alerts::last_seen_at.eq(seen_at),
        ))
        .returning(Alert::as_returning())
        .get_result(conn)
        .await
}

/// Marks an open alert resolved.
pub async fn resolve(
    conn: &mut AsyncPgConnection,
    alert_id: i32,
    resolved_at: NaiveDateTime,
) -> QueryResult<Alert> {
    diesel::update(alerts::table.find(alert_id))
        .set((
            alerts::status.eq(AlertStatus::Resolved.as_str()),
            alerts::resolved_at.eq(resolved_at),
            alerts::last_seen_at.eq(resolved_at),
        ))
        .returning(Alert::as_returning())
        .get_result(conn)
        .await
}

/// Files an alert under an incident.
pub async fn set_incident(
    conn: &mut AsyncPgConnection,
    alert_id: i32,
    incident_id: Uuid,
) -> QueryResult<()> {
    diesel::update(alerts::table.find(alert_id))
        .set(alerts::incident_id.eq(incident_id))
        .execute(conn)
        .await
        .map(drop)
}

/// One alert by id.
pub async fn get(conn: &mut AsyncPgConnection, alert_id: i32) -> QueryResult<Alert> {
    alerts::table
        .find(alert_id)
        .select(Alert::as_select())
        .first(conn)
        .await
}

/// An incident's alerts, oldest first.
pub async fn for_incident(
    conn: &mut AsyncPgConnection,
    incident_id: Uuid,
) -> QueryResult<Vec<Alert>> {
    alerts::table
        .filter(alerts::incident_id.eq(incident_id))
        .order(alerts::id.asc())
        .select(Alert::as_select())
        .load(conn)
        .await
}

/// The most recently resolved alert with this key, if any (a flap or a recurrence).
pub async fn latest_resolved(
    conn: &mut AsyncPgConnection,
    user_id: &UserId,
    alert: &NormalizedAlert,
) -> QueryResult<Option<Alert>> {
    alerts::table
        .filter(with_key(
            user_id.as_str(),
            alert.source_type.as_str(),
            alert.fingerprint.as_str(),
            AlertStatus::Resolved.as_str(),
        ))
        .order(alerts::resolved_at.desc().nulls_last())
        .select(Alert::as_select())
        .first(conn)
        .await
        .optional()
}

/// A resolved alert fires again (a flap): open, counted, its resolve forgotten.
pub async fn refire(
    conn: &mut AsyncPgConnection,
    alert_id: i32,
    at: NaiveDateTime,
) -> QueryResult<Alert> {
    diesel::update(alerts::table.find(alert_id))
        .set((
            alerts::status.eq(AlertStatus::Firing.as_str()),
            alerts::resolved_at.eq(None::<NaiveDateTime>),
            alerts::occurrence_count.eq(alerts::occurrence_count + 1),
            alerts::last_seen_at.eq(at),
        ))
        .returning(Alert::as_returning())
        .get_result(conn)
        .await
}

/// How many of an incident's alerts still fire.
pub async fn firing_count(conn: &mut AsyncPgConnection, incident_id: Uuid) -> QueryResult<i64> {
    alerts::table
        .filter(alerts::incident_id.eq(incident_id))
        .filter(alerts::status.eq(AlertStatus::Firing.as_str()))
        .count()
        .get_result(conn)
        .await
}

/// Firing alerts of a source not heard from since `silent_since`, oldest first, at most
/// `limit` (auto-resolve for sources that never send resolves).
pub async fn silent_firing(
    conn: &mut AsyncPgConnection,
    source: &str,
    silent_since: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Alert>> {
    alerts::table
        .filter(alerts::source_type.eq(source))
        .filter(alerts::status.eq(AlertStatus::Firing.as_str()))
        .filter(alerts::last_seen_at.lt(silent_since))
        .order(alerts::last_seen_at.asc())
        .limit(limit)
        .select(Alert::as_select())
        .load(conn)
        .await
}
