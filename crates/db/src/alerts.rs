//! Every alert received, with a reference to the raw body it came in (stored once per
//! delivery); one row per open problem, repeats counted.

use aurora_domain::AlertStatus;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use crate::schema::{alerts, raw_payloads};
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
    /// The incident it belongs to.
    pub incident_id: Option<Uuid>,
    /// The stored body of the first notification ([`raw_payloads`]), shared by every alert of
    /// its delivery; `None` for an alert whose body is not kept.
    pub raw_payload_id: Option<i64>,
    /// The silence that kept it quiet (it opened no incident while the silence held).
    pub suppressed_by: Option<Uuid>,
    /// What the vendor says beyond the title.
    pub description: Option<String>,
    /// The vendor's runbook link.
    pub runbook_url: Option<String>,
}

impl Alert {
    /// The row as the correlator's decision reads an alert; `None` for a row holding a value
    /// the code no longer knows.
    pub fn to_normalized(&self) -> Option<aurora_domain::NormalizedAlert> {
        Some(aurora_domain::NormalizedAlert {
            source_type: self.source_type.parse().ok()?,
            fingerprint: aurora_domain::Fingerprint::parse(&self.fingerprint).ok()?,
            status: self.status.parse().ok()?,
            severity: self.severity.parse().ok()?,
            title: self.title.clone(),
            service: self.service.clone(),
            environment: self.environment.clone(),
            started_at: time::to_utc(self.started_at),
            labels: serde_json::from_value(self.labels.clone()).ok()?,
            url: self.url.clone(),
            description: self.description.clone(),
            runbook_url: self.runbook_url.clone(),
        })
    }
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

/// The stored bodies with these ids, by id.
pub async fn raw_payloads(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> QueryResult<std::collections::BTreeMap<i64, serde_json::Value>> {
    raw_payloads::table
        .filter(raw_payloads::id.eq_any(ids))
        .select((raw_payloads::id, raw_payloads::payload))
        .load(conn)
        .await
        .map(|rows| rows.into_iter().collect())
}

/// The body the alert `alert_id` first came in, if it is still stored.
pub async fn raw_payload_of(
    conn: &mut AsyncPgConnection,
    alert_id: i32,
) -> QueryResult<Option<serde_json::Value>> {
    alerts::table
        .inner_join(raw_payloads::table)
        .filter(alerts::id.eq(alert_id))
        .select(raw_payloads::payload)
        .first(conn)
        .await
        .optional()
}
