//! Loading what a correlation decision reads, one query per kind of row, whatever the number
//! of deliveries: deliveries done, alerts by key, incidents (locked), deployments.

use std::collections::HashMap;

use aurora_correlation::{
    FiringBySeverity, Needs, Receipt, State, StoredAlert, StoredDeployment, StoredIncident,
};
use aurora_domain::{DeploymentResult, Severity, UserId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Text, Timestamp, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use uuid::Uuid;

use crate::schema::alert_deliveries;
use crate::{QueryResult, time};

/// The state for a decision, and what each delivery already processed did (a redelivery
/// republishes that).
#[derive(Debug, Default)]
pub struct Loaded {
    /// What the decision reads.
    pub state: State,
    /// Delivery id → what each of its alerts did, in alert order.
    pub done: HashMap<String, Vec<ProcessedAlert>>,
}

/// Loads everything `needs` names for `user`. Call inside the transaction that writes the
/// plan, holding the user's lock: the incidents are locked `FOR UPDATE` as well, so an
/// analysis finishing meanwhile waits rather than being overwritten.
///
/// For the rest of the transaction the planner only probes indexes, key by key: every
/// statement of a decision looks up or changes a bounded set of rows by key, so that is always
/// the right plan, while the table statistics it would otherwise trust lag far behind tables
/// growing by thousands of rows a second in an alert storm (it then chose to read a user's
/// every alert, once per key). The lookups are also written as one `LATERAL` probe per key.
pub async fn load(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    needs: &Needs<'_>,
) -> QueryResult<Loaded> {
    conn.batch_execute(
        "SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; \
         SET LOCAL enable_mergejoin = off; SET LOCAL enable_material = off",
    )
    .await?;
    let done = done_deliveries(conn, user, &needs.delivery_ids).await?;
    let alerts = alerts_by_key(conn, user, needs).await?;
    let referenced: Vec<Uuid> = alerts.iter().filter_map(|a| a.incident_id).collect();
    let incidents = incidents(conn, user, needs, &referenced).await?;
    let deployments = deployments(conn, user, needs).await?;
    let quieted: Vec<Uuid> = alerts.iter().filter_map(|a| a.suppressed_by).collect();
    let silences = crate::silences::for_decision(conn, user, time::now(), &quieted).await?;
    let heartbeats = crate::heartbeats::for_user(conn, user).await?;
    Ok(Loaded {
        state: State {
            done_deliveries: done.keys().cloned().collect(),
            alerts,
            incidents,
            deployments,
            silences,
            heartbeats,
        },
        done,
    })
}

/// A row of `alert_deliveries`: what one alert of a processed delivery did. Written in the
/// transaction that did it, so a redelivered message (the correlator died between commit and
/// ack) is recognised and only its events are published again.
#[derive(Debug, Clone, QueryableByName)]
#[diesel(table_name = alert_deliveries)]
pub struct ProcessedAlert {
    /// The delivery.
    pub delivery_id: String,
    /// Position of the alert in its delivery.
    pub alert_index: i32,
    /// The `alerts` row it was stored in or counted against.
    pub alert_id: i32,
    /// The incident it opened, if it opened one.
    pub opened_incident_id: Option<Uuid>,
    /// The `incident_events` rows it recorded that are published as incident changes.
    pub event_ids: Vec<i64>,
}

/// What the deliveries already processed did: one primary-key probe per delivery id.
async fn done_deliveries(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    delivery_ids: &[&str],
) -> QueryResult<HashMap<String, Vec<ProcessedAlert>>> {
    let rows: Vec<ProcessedAlert> = diesel::sql_query(
        "SELECT d.delivery_id, d.alert_index, d.alert_id, d.opened_incident_id, d.event_ids \
         FROM unnest($2::text[]) AS k(delivery_id) \
         CROSS JOIN LATERAL ( \
             SELECT * FROM alert_deliveries \
             WHERE user_id = $1 AND delivery_id = k.delivery_id OFFSET 0) d \
         ORDER BY d.delivery_id, d.alert_index",
    )
    .bind::<Text, _>(user.as_str())
    .bind::<Array<Text>, _>(delivery_ids)
    .load(conn)
    .await?;
    let mut done: HashMap<String, Vec<ProcessedAlert>> = HashMap::new();
    for row in rows {
        done.entry(row.delivery_id.clone()).or_default().push(row);
    }
    Ok(done)
}

#[derive(QueryableByName)]
#[diesel(table_name = crate::schema::alerts)]
struct KeyRow {
    id: i32,
    source_type: String,
    fingerprint: String,
    status: String,
    severity: String,
    incident_id: Option<Uuid>,
    resolved_at: Option<NaiveDateTime>,
    last_seen_at: NaiveDateTime,
    receipt_epoch: i64,
    receipt_sequence: i64,
    suppressed_by: Option<Uuid>,
}

/// The row standing for each key: the open one, else the one resolved last; one probe of
/// `alerts_latest_by_key` per key (an open row has no `resolved_at`, which sorts first in
/// that index's descending order, and a key has at most one).
async fn alerts_by_key(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    needs: &Needs<'_>,
) -> QueryResult<Vec<StoredAlert>> {
    if needs.keys.is_empty() {
        return Ok(Vec::new());
    }
    let sources: Vec<&str> = needs.keys.iter().map(|(s, _)| s.as_str()).collect();
    let fingerprints: Vec<&str> = needs.keys.iter().map(|(_, f)| *f).collect();
    let rows: Vec<KeyRow> = diesel::sql_query(
        "SELECT a.* FROM unnest($2::text[], $3::text[]) AS k(source_type, fingerprint) \
         CROSS JOIN LATERAL ( \
             SELECT id, source_type, fingerprint, status, severity, incident_id, resolved_at, \
                    last_seen_at, receipt_epoch, receipt_sequence, suppressed_by \
             FROM alerts \
             WHERE user_id = $1 AND source_type = k.source_type \
               AND fingerprint = k.fingerprint \
             ORDER BY resolved_at DESC \
             LIMIT 1) a",
    )
    .bind::<Text, _>(user.as_str())
    .bind::<Array<Text>, _>(&sources)
    .bind::<Array<Text>, _>(&fingerprints)
    .load(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(StoredAlert {
                id: row.id,
                source_type: parse(&row.source_type)?,
                fingerprint: row.fingerprint,
                status: parse(&row.status)?,
                severity: parse(&row.severity)?,
                incident_id: row.incident_id,
                resolved_at: row.resolved_at.map(time::to_utc),
                last_seen_at: time::to_utc(row.last_seen_at),
                receipt: Receipt {
                    epoch: row.receipt_epoch,
                    sequence: row.receipt_sequence,
                },
                suppressed_by: row.suppressed_by,
            })
        })
        .collect()
}

#[derive(QueryableByName)]
#[diesel(table_name = crate::schema::incidents)]
struct IncidentRow {
    id: Uuid,
    status: String,
    aurora_status: Option<String>,
    alert_environment: Option<String>,
    alert_title: Option<String>,
    affected_services: Vec<String>,
    correlated_alert_count: i32,
    started_at: NaiveDateTime,
    created_at: Option<NaiveDateTime>,
    updated_at: Option<NaiveDateTime>,
    resolved_at: Option<NaiveDateTime>,
    firing_alert_count: i32,
    severity: Option<String>,
    firing_by_severity: Vec<i32>,
}

/// The incidents of `referenced` alerts and the open candidates (the most recently updated of
/// each environment, and of each related service), locked for the transaction.
async fn incidents(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    needs: &Needs<'_>,
    referenced: &[Uuid],
) -> QueryResult<Vec<StoredIncident>> {
    // Candidates per environment come from `incidents_open_candidates`, per service from
    // `incidents_open_by_service`: a few dozen index rows each, however many incidents are
    // open. (By the service that opened an incident: one that only joined it is found through
    // that service, when linked in the topology, or among the most recent of the
    // environment.)
    let rows: Vec<IncidentRow> = diesel::sql_query(
        "SELECT i.* FROM ( \
             SELECT unnest($2::uuid[]) AS id \
             UNION \
             SELECT c.id FROM unnest($3::text[]) AS e(environment) \
             CROSS JOIN LATERAL ( \
                 SELECT id FROM incidents \
                 WHERE user_id = $1 AND status IN ('investigating', 'analyzed') \
                   AND alert_environment = e.environment AND updated_at >= $4 \
                 ORDER BY updated_at DESC LIMIT $5) c \
             UNION \
             (SELECT id FROM incidents \
              WHERE $6 AND user_id = $1 AND status IN ('investigating', 'analyzed') \
                AND alert_environment IS NULL AND updated_at >= $4 \
              ORDER BY updated_at DESC LIMIT $5) \
             UNION \
             SELECT c.id FROM unnest($7::text[]) AS s(service) \
             CROSS JOIN LATERAL ( \
                 SELECT id FROM incidents \
                 WHERE user_id = $1 AND alert_service = s.service \
                   AND status IN ('investigating', 'analyzed') AND updated_at >= $4 \
                 ORDER BY updated_at DESC LIMIT $5) c \
         ) AS wanted \
         CROSS JOIN LATERAL ( \
             SELECT i.id, i.status, i.aurora_status, i.alert_environment, i.alert_title, \
                    i.affected_services, i.correlated_alert_count, i.started_at, \
                    i.created_at, i.updated_at, i.resolved_at, i.firing_alert_count, \
                    i.severity, i.firing_by_severity \
             FROM incidents i WHERE i.id = wanted.id \
             FOR UPDATE) i",
    )
    .bind::<Text, _>(user.as_str())
    .bind::<Array<SqlUuid>, _>(referenced)
    .bind::<Array<Text>, _>(&needs.environments)
    .bind::<Timestamp, _>(needs.candidates_since.naive_utc())
    .bind::<BigInt, _>(aurora_correlation::CANDIDATE_LIMIT as i64)
    .bind::<Bool, _>(needs.unknown_environment)
    .bind::<Array<Text>, _>(&needs.related_services)
    .load(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            let started_at = time::to_utc(row.started_at);
            Ok(StoredIncident {
                id: row.id,
                status: parse(&row.status)?,
                aurora_status: row.aurora_status.as_deref().map(parse).transpose()?,
                environment: row.alert_environment,
                title: row.alert_title.unwrap_or_default(),
                affected_services: row.affected_services,
                correlated_alert_count: row.correlated_alert_count,
                firing_alerts: row.firing_alert_count,
                severity: row
                    .severity
                    .as_deref()
                    .map(parse)
                    .transpose()?
                    .unwrap_or(Severity::Unknown),
                firing_by_severity: FiringBySeverity::from_stored(&row.firing_by_severity),
                created_at: row.created_at.map_or(started_at, time::to_utc),
                updated_at: row.updated_at.map_or(started_at, time::to_utc),
                resolved_at: row.resolved_at.map(time::to_utc),
            })
        })
        .collect()
}

#[derive(QueryableByName)]
#[diesel(table_name = crate::schema::deployments)]
struct DeploymentRow {
    service: String,
    build_number: Option<String>,
    result: String,
    deployed_at: NaiveDateTime,
}

/// The newest deployments of each service since the window's start.
async fn deployments(
    conn: &mut AsyncPgConnection,
    user: &UserId,
    needs: &Needs<'_>,
) -> QueryResult<Vec<StoredDeployment>> {
    if needs.services.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<DeploymentRow> = diesel::sql_query(
        "SELECT d.service, d.build_number, d.result, d.deployed_at \
         FROM unnest($2::text[]) AS s(service) \
         CROSS JOIN LATERAL ( \
             SELECT service, build_number, result, deployed_at FROM deployments \
             WHERE user_id = $1 AND service = s.service AND deployed_at >= $3 \
             ORDER BY deployed_at DESC LIMIT $4) d",
    )
    .bind::<Text, _>(user.as_str())
    .bind::<Array<Text>, _>(&needs.services)
    .bind::<Timestamp, _>(needs.deployments_since.naive_utc())
    .bind::<BigInt, _>(aurora_correlation::decide::DEPLOYMENT_LIMIT as i64)
    .load(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(StoredDeployment {
                failed: parse::<DeploymentResult>(&row.result)?.is_failure(),
                service: row.service,
                build: row.build_number,
                deployed_at: time::to_utc(row.deployed_at),
            })
        })
        .collect()
}

/// A stored enum value; one the code does not know is a corrupt row.
fn parse<T>(value: &str) -> QueryResult<T>
where
    T: std::str::FromStr<Err = aurora_domain::ParseEnumError>,
{
    value
        .parse()
        .map_err(|err| diesel::result::Error::DeserializationError(Box::new(err)))
}
